"""Idempotent process starts: the first start with a key records the process, a repeat gets it."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.idempotent import insert_ignoring_duplicates
from db.models import Process, User
from db.models.process_start import ProcessStartKey
from domain.errors import Conflict


def claim_start_key(
    session: Session, user: User, key: str | None, request_digest: str, now: datetime
) -> Process | None:
    """Take `key` for a start by `user`; return the process of an earlier start with it, if any.

    Taking the key is an insert that skips a taken one: a parallel start with the same key waits
    for the first one's transaction and then finds its process, rather than recording another.
    """
    if key is None:
        return None
    taken = session.execute(
        insert_ignoring_duplicates(
            session, ProcessStartKey, [ProcessStartKey.user_id, ProcessStartKey.key]
        )
        .values(user_id=user.id, key=key, request_digest=request_digest, created_at=now)
        .returning(ProcessStartKey.id)
    ).scalar_one_or_none()
    if taken is not None:
        return None
    first = session.scalars(
        select(ProcessStartKey).where(
            ProcessStartKey.user_id == user.id, ProcessStartKey.key == key
        )
    ).one()
    if first.request_digest != request_digest:
        raise Conflict("This Idempotency-Key was already used for a different request")
    return session.get_one(Process, first.process_id)


def settle_start_key(session: Session, user: User, key: str, process: Process) -> None:
    """Point `key` at the process its start recorded (in the same transaction)."""
    session.flush()
    session.execute(
        update(ProcessStartKey)
        .where(ProcessStartKey.user_id == user.id, ProcessStartKey.key == key)
        .values(process_id=process.id)
    )
