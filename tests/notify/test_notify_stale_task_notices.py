"""Task notices whose task closed before the sender picked them up are skipped, not sent."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import (
    DeliveryState,
    InboxTask,
    OutboxMessage,
    Process,
    ProcessKind,
    TaskState,
    User,
)
from notify.delivery import HANDED_ON, SKIP_REASONS, DeliveryReport, deliver_due
from notify.outbox import enqueue

AddUser = Callable[..., User]
Make = Callable[..., Settings]

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)
DUE = datetime(2025, 11, 24, 10, 0, tzinfo=UTC)
ASSIGNED = {"step_title": "处理投诉", "process_subject": "3栋1201 漏水投诉", "due_at": DUE}
DUE_SOON = {
    **ASSIGNED,
    "holder_name": "李娜",
    "reason": "首次响应时限",
    "tier": 0,
}
RESOLVED = {
    "process_subject": "3栋1201 漏水投诉",
    "unit": "3栋1201",
    "resolved_by": "李娜",
    "resolution": None,
}


def lina_and_her_case(session: Session, site_id: int, add_user: AddUser) -> tuple[User, Process]:
    """李娜 (email) and a complaint of hers, whose tasks the tests open."""
    lina = add_user(session, site_id, "lina", email="lina@example.cn", display_name="李娜")
    process = Process(
        kind=ProcessKind.COMPLAINT, site_id=site_id, subject="漏水", started_by_id=lina.id
    )
    session.add(process)
    session.flush()
    return lina, process


def add_task(session: Session, process: Process, lina: User, step_key: str) -> InboxTask:
    task = InboxTask(
        process_id=process.id,
        flow_run_id="run-1",
        step_key=step_key,
        step="complaint.resolution",
        site_id=process.site_id,
        assignee_id=lina.id,
    )
    session.add(task)
    session.flush()
    return task


def tell(session: Session, lina: User, task: InboxTask, event: str, context: dict[str, Any],
         *, now: datetime = T0) -> None:  # fmt: skip
    enqueue(
        session,
        event=event,
        recipients=[lina],
        context={**context, "process_subject": f"{context['process_subject']} {task.step_key}"},
        dedup_key=f"task:{task.id}:{event}",
        process_id=task.process_id,
        task_id=task.id,
        now=now,
        to_group_bots=False,
    )


def close(session_factory: sessionmaker[Session], task_id: int, state: TaskState) -> None:
    """Close the task after its notices were queued, as a person finishing it quickly does."""
    with session_factory.begin() as session:
        session.execute(
            update(InboxTask)
            .where(InboxTask.id == task_id)
            .values(state=state, completed_at=T0 if state == TaskState.DONE else None)
        )


def rows(session_factory: sessionmaker[Session]) -> dict[str, OutboxMessage]:
    with session_factory() as session:
        return {row.subject: row for row in session.scalars(select(OutboxMessage))}


def subjects(sink: Any, count: int) -> list[str]:
    return sorted(str(received.message["Subject"]) for received in sink.wait_for(count))


def test_notices_of_a_task_closed_before_sending_are_skipped_with_the_reason(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}")
    with session_factory.begin() as session:
        lina, process = lina_and_her_case(session, site_id, add_user)
        still_open, done, cancelled = (
            add_task(session, process, lina, key) for key in ("open.1", "done.1", "cancelled.1")
        )
        for task in (still_open, done, cancelled):
            tell(session, lina, task, "task_assigned", ASSIGNED)
        tell(session, lina, done, "task_due_soon", DUE_SOON)
        # News about the case, not a call to act on the task: it goes out whatever the task's state.
        tell(session, lina, done, "complaint_resolved", RESOLVED)
        ids = {"done": done.id, "cancelled": cancelled.id}
    close(session_factory, ids["done"], TaskState.DONE)
    close(session_factory, ids["cancelled"], TaskState.CANCELLED)

    report = deliver_due(T0, session_factory=session_factory, settings=settings)

    assert report == DeliveryReport(sent=2, skipped=3)
    assert subjects(sink, 2) == [
        "【已处理】3栋1201 漏水投诉 done.1",
        "【待办】处理投诉：3栋1201 漏水投诉 open.1",
    ]
    by_subject = rows(session_factory)
    skipped = {
        "【待办】处理投诉：3栋1201 漏水投诉 done.1": SKIP_REASONS[TaskState.DONE],
        "【即将超时】处理投诉：3栋1201 漏水投诉 done.1": SKIP_REASONS[TaskState.DONE],
        "【待办】处理投诉：3栋1201 漏水投诉 cancelled.1": SKIP_REASONS[TaskState.CANCELLED],
    }
    for subject, reason in skipped.items():
        row = by_subject[subject]
        # Never tried, so no attempt is used up and nothing is left "sending".
        assert (row.state, row.skip_reason, row.skipped_at) == (DeliveryState.SKIPPED, reason, T0)
        assert (row.attempts, row.sending_since, row.sent_at) == (0, None, None)
    sent = by_subject["【待办】处理投诉：3栋1201 漏水投诉 open.1"]
    assert (sent.state, sent.skip_reason, sent.skipped_at) == (DeliveryState.SENT, None, None)

    # A skipped notice stays skipped: a later pass sends nothing more.
    later = T0 + timedelta(hours=1)
    assert deliver_due(later, session_factory=session_factory, settings=settings) == (
        DeliveryReport()
    )
    assert len(sink.wait_for(2)) == 2


def test_a_closed_tasks_notice_is_not_sent_inside_a_burst(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}", notify_merge_window_seconds=120)
    with session_factory.begin() as session:
        lina, process = lina_and_her_case(session, site_id, add_user)
        first, second = (add_task(session, process, lina, key) for key in ("one.1", "two.1"))
        tell(session, lina, first, "complaint_resolved", RESOLVED)
        # Held for the burst a little longer than the first, so the first one leads the burst.
        tell(session, lina, second, "task_assigned", ASSIGNED, now=T0 + timedelta(seconds=30))
        second_id = second.id
    close(session_factory, second_id, TaskState.DONE)

    release = T0 + timedelta(seconds=150)
    report = deliver_due(release, session_factory=session_factory, settings=settings)

    # The first goes out on its own, not as a burst that lists the closed task's 【待办】.
    assert report == DeliveryReport(sent=1, skipped=1)
    assert subjects(sink, 1) == ["【已处理】3栋1201 漏水投诉 one.1"]
    row = rows(session_factory)["【待办】处理投诉：3栋1201 漏水投诉 two.1"]
    assert (row.state, row.merged_into_id, row.skip_reason) == (
        DeliveryState.SKIPPED,
        None,
        SKIP_REASONS[TaskState.DONE],
    )


def hand_on(session_factory: sessionmaker[Session], task_id: int, to: int) -> None:
    """Give the task to another person after its notices were queued (reassign, escalation)."""
    with session_factory.begin() as session:
        session.execute(update(InboxTask).where(InboxTask.id == task_id).values(assignee_id=to))


def test_a_call_to_act_on_a_task_given_to_someone_else_is_not_sent_to_the_former_holder(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}", notify_merge_window_seconds=120)
    with session_factory.begin() as session:
        lina, process = lina_and_her_case(session, site_id, add_user)
        wang = add_user(session, site_id, "wang", email="wang@example.cn", display_name="王强")
        task = add_task(session, process, lina, "handed.1")
        tell(session, lina, task, "task_assigned", ASSIGNED)
        tell(session, lina, task, "task_due_soon", DUE_SOON)
        # News about the case still reaches her, and would carry the stale notices in its burst.
        tell(session, lina, task, "complaint_resolved", RESOLVED, now=T0 - timedelta(seconds=30))
        task_id, wang_id = task.id, wang.id
    hand_on(session_factory, task_id, wang_id)
    with session_factory.begin() as session:
        handed = session.get_one(InboxTask, task_id)
        tell(session, session.get_one(User, wang_id), handed, "task_assigned", ASSIGNED)

    report = deliver_due(
        T0 + timedelta(seconds=150), session_factory=session_factory, settings=settings
    )

    assert report == DeliveryReport(sent=2, skipped=2)
    received = sink.wait_for(2)
    assert sorted((str(r.message["To"]), str(r.message["Subject"])) for r in received) == [
        ("lina@example.cn", "【已处理】3栋1201 漏水投诉 handed.1"),
        ("wang@example.cn", "【待办】处理投诉：3栋1201 漏水投诉 handed.1"),
    ]
    by_recipient = {}
    with session_factory() as session:
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.task_id == task_id)):
            by_recipient.setdefault(row.recipient_id, []).append(
                (row.event, row.state, row.skip_reason)
            )
    assert sorted(by_recipient[wang_id]) == [("task_assigned", DeliveryState.SENT, None)]
    assert sorted(by_recipient[lina.id]) == [
        ("complaint_resolved", DeliveryState.SENT, None),
        ("task_assigned", DeliveryState.SKIPPED, SKIP_REASONS[HANDED_ON]),
        ("task_due_soon", DeliveryState.SKIPPED, SKIP_REASONS[HANDED_ON]),
    ]
