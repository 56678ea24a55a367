"""Complaints: recording one (首问负责) and the state changes its process makes."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    Complaint,
    InboxTask,
    Process,
    ProcessKind,
    ProcessState,
    Role,
    TaskState,
    User,
)
from db.models.complaint import ComplaintState
from domain.errors import Forbidden, NotFound
from domain.events import EventKind, record_event
from domain.people import get_user, users_with_role
from forms.complaint import ComplaintCreate
from notify.outbox import enqueue_about_case

# Who may take a resident's complaint at the front line: everyone in customer service.
RECEIVING_ROLES = (Role.STAFF, Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER)


def record_complaint(
    session: Session, first_responder: User, intake: ComplaintCreate, now: datetime
) -> Process:
    """Record a complaint; whoever receives it is its first responder and owner of record."""
    if not first_responder.has_role(*RECEIVING_ROLES):
        raise Forbidden("Only customer-service staff can record complaints")
    process = Process(
        kind=ProcessKind.COMPLAINT,
        site_id=first_responder.site_id,
        subject=f"{intake.unit} {intake.description[:60]}",
        state=ProcessState.STARTING,
        started_by_id=first_responder.id,
        started_at=now,
    )
    session.add(process)
    session.flush()
    session.add(
        Complaint(
            process_id=process.id,
            **intake.model_dump(),
            first_responder_id=first_responder.id,
            owner_of_record_id=first_responder.id,
            received_at=now,
        )
    )
    record_event(
        session,
        process_id=process.id,
        kind=EventKind.COMPLAINT_RECEIVED,
        at=now,
        actor_id=first_responder.id,
        data=intake.model_dump(mode="json"),
    )
    return process


def get_complaint(session: Session, process_id: str) -> Complaint:
    """Return the complaint of a process, or raise NotFound."""
    complaint = session.get(Complaint, process_id)
    if complaint is None:
        raise NotFound("Complaint {process_id} does not exist", process_id=process_id)
    return complaint


def _transition(
    session: Session,
    complaint: Complaint,
    state: ComplaintState,
    *,
    kind: EventKind,
    key: str,
    now: datetime,
    data: dict[str, Any],
) -> bool:
    """Move a complaint to `state` once per `key`; return whether this call did it.

    The actor is whoever completed the step that caused the move: the flow runs on their behalf.
    """
    event = record_event(
        session,
        process_id=complaint.process_id,
        kind=kind,
        at=now,
        actor_id=last_completed_by(session, complaint.process_id),
        data={"from": complaint.state, "to": state, **data},
        dedup_key=f"{complaint.process_id}:{key}",
    )
    if event is None:
        return False
    complaint.state = state
    return True


def last_completed_by(session: Session, process_id: str) -> int | None:
    """Return who completed the process's most recent human step."""
    return session.scalar(
        select(InboxTask.completed_by_id)
        .where(InboxTask.process_id == process_id, InboxTask.state == TaskState.DONE)
        .order_by(InboxTask.completed_at.desc(), InboxTask.id.desc())
        .limit(1)
    )


def mark_responded(session: Session, process_id: str, note: str, now: datetime) -> None:
    """Record the first response to the resident."""
    complaint = get_complaint(session, process_id)
    _transition(
        session,
        complaint,
        ComplaintState.RESPONDED,
        kind=EventKind.COMPLAINT_RESPONDED,
        key="responded",
        now=now,
        data={"note": note},
    )


def mark_dispatched(
    session: Session, process_id: str, department: str, key: str, now: datetime
) -> None:
    """Record that the owner sent the work to another department's queue."""
    complaint = get_complaint(session, process_id)
    _transition(
        session,
        complaint,
        ComplaintState.DISPATCHED,
        kind=EventKind.COMPLAINT_DISPATCHED,
        key=f"dispatched:{key}",
        now=now,
        data={"department": department},
    )


def mark_resolved(session: Session, process_id: str, summary: str, key: str, now: datetime) -> None:
    """Record the resolution and tell the owner of record."""
    complaint = get_complaint(session, process_id)
    if _transition(
        session,
        complaint,
        ComplaintState.RESOLVED,
        kind=EventKind.COMPLAINT_RESOLVED,
        key=f"resolved:{key}",
        now=now,
        data={"summary": summary},
    ):
        owner = get_user(session, complaint.owner_of_record_id)
        details = {"resolved_by": owner.display_name, "resolution": summary}
        _tell(session, complaint, "complaint_resolved", key, [owner.id], details)


def reopen(
    session: Session, process_id: str, satisfaction: int, comment: str, key: str, now: datetime
) -> None:
    """Reopen a case after a poor rating; the owner and the shift leads are told."""
    complaint = get_complaint(session, process_id)
    if _transition(
        session,
        complaint,
        ComplaintState.REOPENED,
        kind=EventKind.COMPLAINT_REOPENED,
        key=f"reopened:{key}",
        now=now,
        data={"satisfaction": satisfaction, "comment": comment},
    ):
        complaint.reopen_count += 1
        complaint.satisfaction = satisfaction
        leads = [
            u.id
            for u in users_with_role(session, complaint_site(session, complaint), Role.SHIFT_LEAD)
        ]
        details = {"reason": comment, "reopen_count": complaint.reopen_count}
        recipients = [complaint.owner_of_record_id, *leads]
        _tell(session, complaint, "complaint_reopened", key, recipients, details)


def close(
    session: Session, process_id: str, satisfaction: int, comment: str, now: datetime
) -> None:
    """Close the case with the resident's rating."""
    complaint = get_complaint(session, process_id)
    if _transition(
        session,
        complaint,
        ComplaintState.CLOSED,
        kind=EventKind.COMPLAINT_CLOSED,
        key="closed",
        now=now,
        data={"satisfaction": satisfaction, "comment": comment},
    ):
        complaint.satisfaction = satisfaction
        process = session.get_one(Process, process_id)
        process.state = ProcessState.CLOSED
        process.closed_at = now
        process.current_step = None
        details = {"satisfaction": satisfaction}
        _tell(
            session,
            complaint,
            "complaint_closed",
            "closed",
            [complaint.owner_of_record_id],
            details,
        )


def complaint_site(session: Session, complaint: Complaint) -> int:
    """Return the site a complaint belongs to."""
    return session.scalars(select(Process.site_id).where(Process.id == complaint.process_id)).one()


def _tell(
    session: Session,
    complaint: Complaint,
    event: str,
    key: str,
    recipient_ids: list[int],
    details: dict[str, Any],
) -> None:
    process = session.get_one(Process, complaint.process_id)
    enqueue_about_case(
        session,
        process_id=complaint.process_id,
        event=event,
        key=key,
        recipient_ids=recipient_ids,
        context={"process_subject": process.subject, "unit": complaint.unit, **details},
    )
