"""Prefect tasks of the complaint process; each is a replay-safe write in one transaction."""

from dataclasses import dataclass
from datetime import datetime

from prefect import task

from db.base import utcnow
from db.session import reading, transaction
from domain import complaints
from domain.sla import ladder_key
from tasks.replay import FRESH_READ, REPLAY_SAFE
from tasks.retries import ON_TRANSIENT_DB_ERROR


@dataclass(frozen=True)
class ComplaintCase:
    """What the flow needs to route a complaint's steps."""

    process_id: str
    site_id: int
    owner_of_record_id: int
    urgency: str
    category: str
    subject: str
    sla_ladder: str
    received_at: datetime


@task(name="load-complaint", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def load_complaint(process_id: str) -> ComplaintCase:
    """Return the routing facts of a complaint, read fresh (the owner may have changed)."""
    with reading() as session:
        complaint = complaints.get_complaint(session, process_id)
        return ComplaintCase(
            process_id=process_id,
            site_id=complaints.complaint_site(session, complaint),
            owner_of_record_id=complaint.owner_of_record_id,
            urgency=complaint.urgency,
            category=complaint.category,
            subject=f"{complaint.unit} {complaint.resident_name}",
            sla_ladder=ladder_key("complaint", complaint.category, complaint.urgency),
            received_at=complaint.received_at,
        )


@task(name="record-first-response", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_first_response(process_id: str, note: str) -> None:
    """Mark the complaint responded."""
    with transaction() as session:
        complaints.mark_responded(session, process_id, note, utcnow())


@task(name="record-dispatch", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_dispatch(process_id: str, department: str, key: str) -> None:
    """Mark the complaint dispatched to another department."""
    with transaction() as session:
        complaints.mark_dispatched(session, process_id, department, key, utcnow())


@task(name="record-resolution", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_resolution(process_id: str, summary: str, key: str) -> None:
    """Mark the complaint resolved and notify its owner."""
    with transaction() as session:
        complaints.mark_resolved(session, process_id, summary, key, utcnow())


@task(name="reopen-complaint", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def reopen_complaint(process_id: str, satisfaction: int, comment: str, key: str) -> None:
    """Reopen the complaint after a poor rating."""
    with transaction() as session:
        complaints.reopen(session, process_id, satisfaction, comment, key, utcnow())


@task(name="close-complaint", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def close_complaint(process_id: str, satisfaction: int, comment: str) -> None:
    """Close the complaint with the resident's rating."""
    with transaction() as session:
        complaints.close(session, process_id, satisfaction, comment, utcnow())
