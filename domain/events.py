"""The append-only history of every process."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.models import Event

# Dedup keys looked up per query: well inside every dialect's limit on bound parameters.
_KEYS_PER_QUERY = 1_000


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
    """Append an event; with a `dedup_key` already recorded, append nothing and return None."""
    if dedup_key is not None and session.scalar(
        select(Event.id).where(Event.dedup_key == dedup_key)
    ):
        return None
    event = Event(
        process_id=process_id,
        kind=kind,
        at=at,
        actor_id=actor_id,
        task_id=task_id,
        data=data or {},
        dedup_key=dedup_key,
    )
    session.add(event)
    session.flush()
    return event


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
    out. The keys are looked up together and the events inserted by one executemany on the table,
    not as ORM objects: a caller with many events pays a few statements, not a query and flush each.
    """
    keys = [event.dedup_key for event in events if event.dedup_key is not None]
    taken: set[str] = set()
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        taken.update(session.scalars(select(Event.dedup_key).where(Event.dedup_key.in_(chunk))))
    appended = []
    for event in events:
        if event.dedup_key is None:
            appended.append(event)
        elif event.dedup_key not in taken:
            taken.add(event.dedup_key)
            appended.append(event)
    if appended:
        session.execute(
            insert(Event.__table__),
            [
                {
                    "process_id": event.process_id,
                    "kind": event.kind,
                    "at": event.at,
                    "actor_id": event.actor_id,
                    "task_id": event.task_id,
                    "data": event.data,
                    "dedup_key": event.dedup_key,
                }
                for event in appended
            ],
        )
    return appended


def history(session: Session, process_id: str) -> list[Event]:
    """Return a process's events, oldest first."""
    return list(
        session.scalars(select(Event).where(Event.process_id == process_id).order_by(Event.id))
    )
