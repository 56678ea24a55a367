"""Outbox operations for ops admins: see what failed, went dead or ended unknown, and retry it.

A retry gives the message a fresh set of attempts from now; who asked and when is kept on the row
and, for a message of a process, in the process's history.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import DeliveryState, OutboxMessage, Role, User
from domain.errors import Conflict, Forbidden, NotFound
from domain.events import EventKind, record_event

logger = logging.getLogger(__name__)

# What an ops admin must look at: nothing in these states goes out again by itself, or soon.
PROBLEM_STATES = (DeliveryState.FAILED, DeliveryState.DEAD, DeliveryState.UNKNOWN)


def require_ops_admin(user: User) -> None:
    """Refuse anyone who is not an operations admin."""
    if not user.has_role(Role.OPS_ADMIN):
        raise Forbidden("Only operations admins can see and retry deliveries")


def list_problem_deliveries(
    session: Session,
    user: User,
    *,
    states: Sequence[DeliveryState] = PROBLEM_STATES,
    channel: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[OutboxMessage]:
    """Return failed, dead or unknown deliveries (or those of `states`), newest first."""
    require_ops_admin(user)
    query = select(OutboxMessage).where(OutboxMessage.state.in_(list(states)))
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    query = query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def delivery_counts(session: Session, user: User) -> dict[str, int]:
    """Return how many outbox messages are in each state."""
    require_ops_admin(user)
    rows = session.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    ).all()
    counts = {state.value: 0 for state in DeliveryState}
    counts.update({str(state): int(count) for state, count in rows})
    return counts


def retry_delivery(session: Session, user: User, message_id: int, now: datetime) -> OutboxMessage:
    """Queue a failed, dead or unknown message again from now, with a fresh set of attempts."""
    require_ops_admin(user)
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("No notification with id {message_id}", message_id=message_id)
    previous = {"state": message.state, "attempts": message.attempts, "error": message.last_error}
    # Compare-and-set: two admins pressing retry, or a sender finishing, cannot both win.
    moved = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state.in_(list(PROBLEM_STATES)))
        .values(
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt_at=now,
            sending_since=None,
            retry_requested_by_id=user.id,
            retry_requested_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        raise Conflict(
            "Only failed, dead or unknown deliveries can be retried; this one is {state}",
            state=message.state,
        )
    if message.process_id is not None:
        record_event(
            session,
            process_id=message.process_id,
            task_id=message.task_id,
            kind=EventKind.NOTIFICATION_RETRIED,
            at=now,
            actor_id=user.id,
            data={"message_id": message_id, "channel": message.channel, "before": previous},
        )
    logger.info("outbox message %s queued again by user %s", message_id, user.id)
    session.refresh(message)
    return message
