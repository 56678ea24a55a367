"""Recording events in a batch against the real database: the same rows as one by one."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Event, InboxTask
from domain.events import NewEvent, record_event, record_events
from tests.support.factories import complaint_task

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday


def recorded(session: Session, task: InboxTask) -> list[tuple[object, ...]]:
    rows = session.execute(
        select(Event.kind, Event.at, Event.actor_id, Event.data, Event.dedup_key)
        .where(Event.task_id == task.id, Event.kind.like("test_%"))
        .order_by(Event.id)
    )
    return [tuple(row) for row in rows]


def test_a_batch_appends_in_order_and_leaves_out_keys_already_taken(session: Session) -> None:
    task = complaint_task(session, NOW)
    record_event(
        session, process_id=task.process_id, task_id=task.id, kind="test_first", at=NOW,
        dedup_key=f"test:{task.id}:first",
    )  # fmt: skip

    def event(kind: str, key: str | None, **data: int) -> NewEvent:
        return NewEvent(
            process_id=task.process_id, task_id=task.id, kind=kind, at=NOW, data=data,
            dedup_key=key and f"test:{task.id}:{key}",
        )  # fmt: skip

    batch = [
        event("test_again", "first"),  # recorded before the batch
        event("test_second", "second", n=2),
        event("test_unkeyed", None),
        event("test_twice", "second"),  # taken by an earlier event of the batch
        event("test_unkeyed", None, n=5),  # an event without a key is always appended
    ]

    appended = record_events(session, batch)

    assert appended == [batch[1], batch[2], batch[4]]
    assert recorded(session, task) == [
        ("test_first", NOW, None, {}, f"test:{task.id}:first"),
        ("test_second", NOW, None, {"n": 2}, f"test:{task.id}:second"),
        ("test_unkeyed", NOW, None, {}, None),
        ("test_unkeyed", NOW, None, {"n": 5}, None),
    ]
    # Replayed, the keyed events are all taken; only the unkeyed ones are appended again.
    assert record_events(session, batch) == [batch[2], batch[4]]
    assert record_events(session, []) == []
