"""Comments on tasks against the real database: who may comment, what a comment may hold."""

import ast
import inspect
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Event, InboxTask, TaskComment
from domain import attachments, comments, inbox, saved_views, substitutes
from domain.comments import MAX_COMMENT_CHARS, add_comment, comments_for
from domain.errors import Invalid, NotFound
from i18n import gettext_for
from tests.support.factories import complaint_task, person

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday
# The refusals whose message id is their first argument; Invalid.field's is its second.
REFUSALS = {"Forbidden": 0, "NotFound": 0, "Conflict": 0, "field": 1}


@pytest.fixture
def task(session: Session) -> InboxTask:
    """An open complaint task held by zhangmin at the demo site."""
    return complaint_task(session, NOW)


def test_a_comment_is_stored_stripped_and_recorded(session: Session, task: InboxTask) -> None:
    zhangmin = person(session, "zhangmin")

    comment = add_comment(session, zhangmin, task.id, "  已电话联系业主，约明早上门  \n", NOW)

    assert comment.body == "已电话联系业主，约明早上门"
    assert (comment.task_id, comment.author_id, comment.created_at) == (task.id, zhangmin.id, NOW)
    event = session.scalars(
        select(Event).where(Event.task_id == task.id, Event.kind == "task_commented")
    ).one()
    assert (event.actor_id, event.at, event.data) == (zhangmin.id, NOW, {"comment_id": comment.id})
    assert event.process_id == task.process_id


def test_a_manager_who_sees_the_task_may_comment(session: Session, task: InboxTask) -> None:
    lihua = person(session, "lihua")  # shift lead at the same site

    comment = add_comment(session, lihua, task.id, "请今天内回复业主", NOW)

    assert comment.author_id == lihua.id


def test_comments_come_oldest_first(session: Session, task: InboxTask) -> None:
    zhangmin, lihua = person(session, "zhangmin"), person(session, "lihua")
    # Written in the opposite order to their times, so id order would be wrong.
    later = add_comment(session, zhangmin, task.id, "已上门处理", NOW + timedelta(hours=2))
    earlier = add_comment(session, lihua, task.id, "请尽快上门", NOW + timedelta(hours=1))

    assert [c.id for c in comments_for(session, task.id)] == [earlier.id, later.id]
    assert comments_for(session, task.id + 1_000_000) == []


def test_another_staff_member_cannot_comment(session: Session, task: InboxTask) -> None:
    wangqiang = person(session, "wangqiang")  # staff at the same site, not on this task

    with pytest.raises(NotFound):
        add_comment(session, wangqiang, task.id, "路过看看", NOW)

    assert comments_for(session, task.id) == []


@pytest.mark.parametrize("body", ["", "   \n\t "], ids=["empty", "blank"])
def test_an_empty_comment_is_invalid(session: Session, task: InboxTask, body: str) -> None:
    with pytest.raises(Invalid) as refused:
        add_comment(session, person(session, "zhangmin"), task.id, body, NOW)

    assert refused.value.problems[0].loc == ("body",)
    assert comments_for(session, task.id) == []


def test_a_comment_longer_than_the_limit_is_invalid(session: Session, task: InboxTask) -> None:
    zhangmin = person(session, "zhangmin")
    longest = add_comment(session, zhangmin, task.id, "噪" * MAX_COMMENT_CHARS, NOW)

    with pytest.raises(Invalid) as refused:
        add_comment(session, zhangmin, task.id, "噪" * (MAX_COMMENT_CHARS + 1), NOW)

    problem = refused.value.problems[0]
    assert (problem.loc, problem.params) == (("body",), {"max_chars": MAX_COMMENT_CHARS})
    assert session.scalars(select(TaskComment.id).where(TaskComment.task_id == task.id)).all() == [
        longest.id
    ]


def refusal_messages(module: ModuleType) -> set[str]:
    """Return the message ids of every refusal raised in `module`'s source."""
    found = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        position = REFUSALS.get(name or "")
        if position is None or len(node.args) <= position:
            continue
        argument = node.args[position]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            found.add(argument.value)
    return found


@pytest.mark.parametrize("module", [comments, attachments, substitutes, saved_views, inbox])
def test_every_refusal_has_a_chinese_translation(module: ModuleType) -> None:
    translate = gettext_for("zh_CN")
    messages = refusal_messages(module)

    assert messages, "the scan found no refusals; the check itself is broken"
    assert sorted(m for m in messages if translate(m) == m) == []
