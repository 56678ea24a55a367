"""The append-only history of every process."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, select
from sqlalchemy.orm import Session

from db.idempotent import insert_ignoring_duplicates
from db.models import Event


def record_event(
    session: Session,
    *,
    process_id: str,
    kind: str,
    at: datetime,
    actor_id: int | None = None,
    task_id: int | None = None,
    data: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> Event | None:
    """Append an event; with a `dedup_key` already recorded, append nothing and return None.

    One INSERT that skips a taken key, as `record_events` does for many: a concurrent writer of
    the same key makes this one wait and return None instead of failing its transaction.
    """
    event = NewEvent(process_id, kind, at, actor_id, task_id, data or {}, dedup_key)
    return session.scalar(_insert(session, Event).values(_columns(event)).returning(Event))


@dataclass(frozen=True)
class NewEvent:
    """An event to append with `record_events`; the fields are `record_event`'s arguments."""

    process_id: str
    kind: str
    at: datetime
    actor_id: int | None = None
    task_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None


def record_events(session: Session, events: Sequence[NewEvent]) -> list[NewEvent]:
    """Append `events` as `record_event` would one by one; return those appended, in order.

    An event whose dedup key is already recorded, or taken by an earlier one of `events`, is left
    out. The events go in by one INSERT that skips taken keys and returns those it wrote, on the
    table rather than as ORM objects: a caller with many events pays one statement.
    """
    wanted, keys = [], set()
    for event in events:
        if event.dedup_key is None or event.dedup_key not in keys:
            wanted.append(event)
            keys.add(event.dedup_key)
    if not wanted:
        return []
    written = session.scalars(
        _insert(session, Event.__table__).returning(Event.dedup_key),
        [_columns(event) for event in wanted],
    )
    taken_now = set(written)
    return [e for e in wanted if e.dedup_key is None or e.dedup_key in taken_now]


def _insert(session: Session, into: type[Event] | Table) -> Insert:
    return insert_ignoring_duplicates(session, into, [Event.dedup_key])


def _columns(event: NewEvent) -> dict[str, Any]:
    return {
        "process_id": event.process_id,
        "kind": event.kind,
        "at": event.at,
        "actor_id": event.actor_id,
        "task_id": event.task_id,
        "data": event.data,
        "dedup_key": event.dedup_key,
    }


def history(session: Session, process_id: str) -> list[Event]:
    """Return a process's events, oldest first."""
    return list(
        session.scalars(select(Event).where(Event.process_id == process_id).order_by(Event.id))
    )
