"""The notification centre: every person gets each notice in the inbox's bell, in their language,
once however often the step replays, whatever channels they have; only they can open it."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import Notice, User
from domain import notices
from domain.errors import NotFound
from notify.outbox import enqueue

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)
ASSIGNED = {
    "step_title": "经理审批",
    "process_subject": "3栋1201 漏水投诉",
    "due_at": datetime(2025, 11, 24, 10, 0, tzinfo=UTC),
}

AddUser = Callable[..., User]
Make = Callable[..., Settings]


def test_each_person_gets_one_notice_in_their_language_whatever_their_channels(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn", display_name="李娜")
        tom = add_user(session, site_id, "tom", email="tom@example.cn", locale="en")
        # No email, no WeCom: nothing in the outbox for him, but the bell still tells him.
        wang = add_user(session, site_id, "wang", email=None)
        ids = {"lina": lina.id, "tom": tom.id, "wang": wang.id}
    for _replay in range(2):
        with session_factory.begin() as session:
            people = list(session.scalars(select(User).where(User.id.in_(ids.values()))))
            enqueue(
                session,
                event="task_assigned",
                recipients=people,
                context=ASSIGNED,
                dedup_key="run-1:approval.1",
                now=T0,
                settings=make_settings(),
            )

    with session_factory() as session:
        by_person = {n.recipient_id: n for n in session.scalars(select(Notice))}
        assert set(by_person) == set(ids.values())  # one each, the replay added none
        assert by_person[ids["lina"]].subject == "【待办】经理审批：3栋1201 漏水投诉"
        assert by_person[ids["lina"]].body.startswith("李娜，您好")
        assert by_person[ids["tom"]].subject == "[To do] 经理审批: 3栋1201 漏水投诉"
        assert {n.read_at for n in by_person.values()} == {None}
        assert by_person[ids["wang"]].created_at == T0


def test_a_notice_is_read_by_its_person_only_and_all_can_be_marked_read(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn")
        tom = add_user(session, site_id, "tom", email="tom@example.cn")
        for number in range(3):
            enqueue(
                session,
                event="task_assigned",
                recipients=[lina],
                context=ASSIGNED,
                dedup_key=f"run-{number}:approval.1",
                now=T0 + timedelta(minutes=number),
                settings=make_settings(),
            )
    with session_factory.begin() as session:
        lina, tom = session.get_one(User, lina.id), session.get_one(User, tom.id)
        latest = notices.recent_notices(session, lina)
        assert [n.created_at for n in latest] == [T0 + timedelta(minutes=m) for m in (2, 1, 0)]
        assert notices.unread_count(session, lina) == 3
        with pytest.raises(NotFound):
            notices.open_notice(session, tom, latest[0].id, T0)
        opened = notices.open_notice(session, lina, latest[0].id, T0 + timedelta(hours=1))
        assert opened.read_at == T0 + timedelta(hours=1)
        # Opened again later, it keeps the first reading time.
        notices.open_notice(session, lina, latest[0].id, T0 + timedelta(hours=2))
        assert opened.read_at == T0 + timedelta(hours=1)
        assert notices.unread_count(session, lina) == 2
        assert notices.mark_all_read(session, lina, T0 + timedelta(hours=3)) == 2
        assert notices.unread_count(session, lina) == 0
