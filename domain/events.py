"""The append-only history of every process."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def history(session: Session, process_id: str) -> list[Event]:
    """Return a process's events, oldest first."""
    return list(
        session.scalars(select(Event).where(Event.process_id == process_id).order_by(Event.id))
    )
