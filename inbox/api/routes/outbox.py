"""Outbox operations for ops admins: failed, dead and unknown deliveries, their errors, retry."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from db.models import DeliveryState
from inbox.api.deps import ClockDep, CurrentUser, SessionDep
from notify import operations

router = APIRouter(prefix="/outbox", tags=["outbox"])


class OutboxMessagePublic(BaseModel):
    """One notification as ops admins see it; its body and addresses stay out of the view."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    event: str
    channel: str
    recipient_id: int | None
    bot_name: str | None
    process_id: str | None
    task_id: int | None
    subject: str
    state: str
    attempts: int
    urgent: bool
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sending_since: datetime | None
    sent_at: datetime | None
    merged_into_id: int | None
    retry_requested_by_id: int | None
    retry_requested_at: datetime | None
    skip_reason: str | None
    skipped_at: datetime | None


@router.get("/problems", response_model=list[OutboxMessagePublic])
def list_problems(
    session: SessionDep,
    user: CurrentUser,
    state: Annotated[list[DeliveryState] | None, Query()] = None,
    channel: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[OutboxMessagePublic]:
    """List deliveries that failed, went dead after their retries, or ended unknown."""
    messages = operations.list_problem_deliveries(
        session,
        user,
        states=state or operations.PROBLEM_STATES,
        channel=channel,
        limit=limit,
        offset=offset,
    )
    return [OutboxMessagePublic.model_validate(message) for message in messages]


@router.get("/summary", response_model=dict[str, int])
def summary(session: SessionDep, user: CurrentUser) -> dict[str, int]:
    """Count the outbox's messages per state."""
    return operations.delivery_counts(session, user)


@router.post("/{message_id}/retry", response_model=OutboxMessagePublic)
def retry(
    message_id: int, session: SessionDep, user: CurrentUser, clock: ClockDep
) -> OutboxMessagePublic:
    """Send a failed, dead or unknown delivery again, with a fresh set of attempts."""
    message = operations.retry_delivery(session, user, message_id, clock())
    return OutboxMessagePublic.model_validate(message)
