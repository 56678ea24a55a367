"""The append-only history of every process."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Insert, Table, select
from sqlalchemy.orm import Session

from db.idempotent import insert_ignoring_duplicates
from db.models import Event


class EventKind(StrEnum):
    """What happened to a process; the value is the `kind` stored on its event row."""

    # A complaint, from the front line's intake to the resident's rating (domain/complaints.py).
    COMPLAINT_RECEIVED = "complaint_received"
    COMPLAINT_RESPONDED = "complaint_responded"
    COMPLAINT_DISPATCHED = "complaint_dispatched"
    COMPLAINT_RESOLVED = "complaint_resolved"
    COMPLAINT_REOPENED = "complaint_reopened"
    COMPLAINT_CLOSED = "complaint_closed"

    # A person's step in the inbox, in any process.
    TASK_OPENED = "task_opened"
    TASK_ROUTED_TO_SUBSTITUTE = "task_routed_to_substitute"
    TASK_KEPT_FROM_SUBSTITUTE = "task_kept_from_substitute"
    TASK_CLAIMED = "task_claimed"
    TASK_UNCLAIMED = "task_unclaimed"
    TASK_REASSIGNED = "task_reassigned"
    TASK_DELEGATED = "task_delegated"
    TASK_COMMENTED = "task_commented"
    ATTACHMENT_ADDED = "attachment_added"
    TASK_COMPLETED = "task_completed"
    TASK_CANCELLED = "task_cancelled"

    # A step's deadline: warnings, escalation up the ladder, and pauses of the clock.
    SLA_WARNING = "sla_warning"
    SLA_REMINDER = "sla_reminder"
    TASK_OVERDUE = "task_overdue"
    TASK_ESCALATED = "task_escalated"
    SLA_PAUSED = "sla_paused"
    SLA_RESUMED = "sla_resumed"

    # A monthly or yearly training plan, from drafting to the analysis of its sessions.
    TRAINING_PLAN_STARTED = "training_plan_started"
    TRAINING_PLAN_INCOMPLETE = "training_plan_incomplete"
    TRAINING_PLAN_SUBMITTED = "training_plan_submitted"
    TRAINING_PLAN_APPROVED = "training_plan_approved"
    TRAINING_PLAN_REJECTED = "training_plan_rejected"
    TRAINING_PLAN_SELF_APPROVAL_REFUSED = "training_plan_self_approval_refused"
    TRAINING_SESSIONS_SCHEDULED = "training_sessions_scheduled"
    TRAINING_PLAN_ANNOUNCED = "training_plan_announced"
    TRAINING_SESSION_HELD = "training_session_held"
    TRAINING_SESSION_CANCELLED = "training_session_cancelled"
    TRAINING_SESSIONS_RECORDED = "training_sessions_recorded"
    TRAINING_ASSESSED = "training_assessed"
    TRAINING_ANALYSED = "training_analysed"
    TRAINING_PLAN_CLOSED = "training_plan_closed"

    # A new hire's onboarding: mentor, training days, exams, and the trainer's pass rate.
    ONBOARDING_REGISTERED = "onboarding_registered"
    MENTOR_REFUSED = "mentor_refused"
    MENTOR_ASSIGNED = "mentor_assigned"
    POINTS_DEDUCTED = "points_deducted"
    TRAINING_DAY_CONFIRMED = "training_day_confirmed"
    EXAM_SCORED = "exam_scored"
    RETRAINING_CONFIRMED = "retraining_confirmed"
    FINAL_DEADLINE_MISSED = "final_deadline_missed"
    POST_TAKEN = "post_taken"
    ONBOARDING_DISMISSED = "onboarding_dismissed"
    ONBOARDING_REPRIEVED = "onboarding_reprieved"
    TRAINER_TARGET_MISSED = "trainer_target_missed"
    TRAINER_DISQUALIFIED = "trainer_disqualified"
    TRAINING_REVISED = "training_revised"

    # A resignation: handing over open work, the checklist, and knowledge transfer.
    RESIGNATION_RECORDED = "resignation_recorded"
    HANDOVER_PLAN_APPROVED = "handover_plan_approved"
    OWNER_OF_RECORD_CHANGED = "owner_of_record_changed"
    HANDOVER_CHECKLIST_CREATED = "handover_checklist_created"
    HANDOVER_ITEM_ACCEPTED = "handover_item_accepted"
    HANDOVER_ITEM_DISPUTED = "handover_item_disputed"
    HANDOVER_DISPUTE_RESOLVED = "handover_dispute_resolved"
    HANDOVER_CLOSED = "handover_closed"
    KNOWLEDGE_SESSION_HELD = "knowledge_session_held"
    KNOWLEDGE_SESSION_CONFIRMED = "knowledge_session_confirmed"
    KNOWLEDGE_SESSION_REPEAT = "knowledge_session_repeat"
    KNOWLEDGE_TRANSFER_COMPLETED = "knowledge_transfer_completed"
    RESIGNATION_CLOSED = "resignation_closed"
    LEAVER_OFFBOARDED = "leaver_offboarded"

    # Operations: the watchdog, a resume the inbox did not give, an admin's resend.
    PROCESS_RESTARTED = "process_restarted"
    PROCESS_FLAGGED = "process_flagged"
    RESUMED_OUTSIDE_INBOX = "resumed_outside_inbox"
    NOTIFICATION_RETRIED = "notification_retried"


def record_event(
    session: Session,
    *,
    process_id: str,
    kind: EventKind,
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
    kind: EventKind
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
