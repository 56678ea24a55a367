"""Writing notifications into the outbox: rendered per recipient, once per dedup key."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import DeliveryState, InboxTask, OutboxMessage, Process, ProcessKind, User
from notify.links import verify_link
from notify.outbox import enqueue, enqueue_about_case

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)

AddUser = Callable[..., User]
Make = Callable[..., Settings]

ASSIGNED = {
    "step_title": "经理审批",
    "process_subject": "3栋1201 漏水投诉",
    "due_at": datetime(2025, 11, 24, 10, 0, tzinfo=UTC),
}


def outbox_rows(session_factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_same_dedup_key_twice_queues_one_row(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        add_user(session, site_id, "lina", email="lina@example.cn")

    added = []
    # Two transactions, as when a resumed flow replays the step that queued the message.
    for _replay in range(2):
        with session_factory.begin() as session:
            lina = session.scalars(select(User)).one()
            added.append(
                enqueue(
                    session,
                    event="task_assigned",
                    recipients=[lina],
                    context=ASSIGNED,
                    dedup_key="run-1:manager-approval.1",
                    now=T0,
                    settings=make_settings(),
                )
            )

    assert added == [1, 0]

    [row] = outbox_rows(session_factory)
    assert row.dedup_key == f"run-1:manager-approval.1:{row.recipient_id}:email"
    assert row.state == DeliveryState.PENDING
    assert row.attempts == 0
    assert row.next_attempt_at == T0
    assert row.subject == "【待办】经理审批：3栋1201 漏水投诉"
    assert "截止时间：2025-11-24 18:00（北京时间）" in row.body


def test_news_of_a_case_reaches_each_active_person_once_and_no_disabled_account(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser
) -> None:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn")
        leaver = add_user(session, site_id, "leaver", email="leaver@example.cn")
        leaver.active = False  # after the last working day
        case = Process(
            kind=ProcessKind.COMPLAINT, site_id=site_id, subject="3栋1201 漏水投诉",
            started_by_id=lina.id,
        )  # fmt: skip
        session.add(case)
        session.flush()
        # Named twice, a part nobody holds yet (None), and a disabled account.
        added = enqueue_about_case(
            session,
            process_id=case.id,
            event="complaint_reopened",
            key="round-2",
            recipient_ids=[lina.id, None, leaver.id, lina.id],
            context={
                "process_subject": "3栋1201 漏水投诉",
                "unit": "3-1-1201",
                "reopen_count": 2,
                "reason": "回访不满意",
            },
        )
        lina_id, case_id = lina.id, case.id

    rows = [row for row in outbox_rows(session_factory) if row.channel != "in_app"]
    assert added == len(rows) == 1
    assert rows[0].recipient_id == lina_id
    assert rows[0].dedup_key.startswith(f"{case_id}:complaint_reopened:round-2:")


def test_each_recipient_in_their_language_and_only_on_their_channels(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn", display_name="李娜")
        tom = add_user(session, site_id, "tom", email="tom@example.cn", locale="en")
        nomail = add_user(session, site_id, "wang", email=None)
        added = enqueue(
            session,
            event="task_assigned",
            # A recipient named twice still gets one message.
            recipients=[lina, tom, nomail, lina],
            context=ASSIGNED,
            dedup_key="run-2:resolution.1",
            now=T0,
            settings=make_settings(),
        )

    assert added == 2
    rows = {row.recipient_id: row for row in outbox_rows(session_factory)}
    assert set(rows) == {lina.id, tom.id}
    assert rows[lina.id].body.startswith("李娜，您好")
    assert rows[tom.id].subject == "[To do] 经理审批: 3栋1201 漏水投诉"


def test_new_recipient_on_replay_is_added_and_old_ones_are_not(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn")
        tom = add_user(session, site_id, "tom", email="tom@example.cn")
        first = enqueue(
            session,
            event="task_assigned",
            recipients=[lina],
            context=ASSIGNED,
            dedup_key="k",
            now=T0,
            settings=make_settings(),
        )
        second = enqueue(
            session,
            event="task_assigned",
            recipients=[lina, tom],
            context=ASSIGNED,
            dedup_key="k",
            now=T0,
            settings=make_settings(),
        )

    assert (first, second) == (1, 1)
    assert len(outbox_rows(session_factory)) == 2


def test_rows_belong_to_the_callers_transaction(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        add_user(session, site_id, "lina", email="lina@example.cn")

    with pytest.raises(RuntimeError), session_factory.begin() as session:
        lina = session.scalars(select(User)).one()
        enqueue(
            session,
            event="task_assigned",
            recipients=[lina],
            context=ASSIGNED,
            dedup_key="k",
            now=T0,
            settings=make_settings(),
        )
        raise RuntimeError("the step failed after queueing")

    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_task_link_uses_public_base_url(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn")
        process = Process(
            kind=ProcessKind.COMPLAINT, site_id=site_id, subject="漏水", started_by_id=lina.id
        )
        session.add(process)
        session.flush()
        task = InboxTask(
            process_id=process.id,
            flow_run_id="run-3",
            step_key="resolution.1",
            step="complaint.resolution",
            site_id=site_id,
            assignee_id=lina.id,
        )
        session.add(task)
        session.flush()
        enqueue(
            session,
            event="task_assigned",
            recipients=[lina],
            context=ASSIGNED,
            dedup_key="run-3:resolution.1",
            process_id=process.id,
            task_id=task.id,
            now=T0,
            settings=make_settings(public_base_url="https://kefu.example.cn/"),
        )

    [row] = outbox_rows(session_factory)
    assert (row.process_id, row.task_id) == (process.id, task.id)
    # A signed link, not the bare task address; it names the task and nothing else.
    assert row.link_url is not None and row.link_url in row.body
    assert row.link_url.startswith("https://kefu.example.cn/t/")
    token = row.link_url.removeprefix("https://kefu.example.cn/t/")
    assert verify_link(token, now=T0, settings=make_settings()) == f"/tasks/{task.id}"


def test_no_reachable_recipient_queues_nothing(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        wang = add_user(session, site_id, "wang", email=None)
        added = enqueue(
            session,
            event="complaint_closed",
            recipients=[wang],
            context={"process_subject": "漏水", "unit": "3栋1201", "satisfaction": 4},
            dedup_key="k",
            settings=make_settings(),
        )

    assert added == 0
    assert outbox_rows(session_factory) == []
