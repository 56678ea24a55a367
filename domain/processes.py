"""Processes as people see them: who may look at one, and its story so far."""

from typing import Any

from sqlalchemy import exists, false, or_, select
from sqlalchemy.orm import Session

from db.base import Base
from db.models import (
    Complaint,
    Event,
    InboxTask,
    NewHire,
    OutboxMessage,
    Process,
    ProcessKind,
    Resignation,
    Role,
    TaskState,
    TrainingPlan,
    User,
)
from domain.errors import NotFound
from domain.task_access import readable_tasks


def get_process(session: Session, user: User, process_id: str) -> Process:
    """Return the process if `user` may see it: they started, own, manage or work on it, or it
    told them about itself (an attendee of an announced plan follows the link in the message)."""
    statement = select(Process).where(Process.id == process_id)
    if not user.has_role(Role.OPS_ADMIN):
        works_on_it = readable_tasks(user).where(InboxTask.process_id == Process.id).exists()
        owns_it = exists().where(
            Complaint.process_id == Process.id, Complaint.owner_of_record_id == user.id
        )
        manages_it = Process.site_id == user.site_id if user.manages else false()
        told_of_it = exists().where(
            OutboxMessage.process_id == Process.id, OutboxMessage.recipient_id == user.id
        )
        statement = statement.where(
            or_(Process.started_by_id == user.id, works_on_it, owns_it, manages_it, told_of_it)
        )
    process = session.scalar(statement)
    if process is None:
        raise NotFound("Process {process_id} does not exist", process_id=process_id)
    return process


# The table that holds each kind of process's own facts, keyed by the process id.
DETAIL_TABLES: dict[ProcessKind, type[Base]] = {
    ProcessKind.COMPLAINT: Complaint,
    ProcessKind.TRAINING_PLAN: TrainingPlan,
    ProcessKind.ONBOARDING: NewHire,
    ProcessKind.RESIGNATION: Resignation,
}


def process_details(session: Session, process: Process) -> dict[str, Any]:
    """Return the process's own facts (the complaint, the plan, the new hire, the leaver)."""
    row = session.get(DETAIL_TABLES[ProcessKind(process.kind)], process.id)
    if row is None:
        return {}
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "process_id"}


def open_tasks(session: Session, process_id: str) -> list[InboxTask]:
    """Return the process's open tasks."""
    return list(
        session.scalars(
            select(InboxTask)
            .where(InboxTask.process_id == process_id, InboxTask.state == TaskState.OPEN)
            .order_by(InboxTask.id)
        )
    )


def event_actors(session: Session, events: list[Event]) -> dict[int, str]:
    """Return the display names of the people who acted in `events`."""
    ids = {e.actor_id for e in events if e.actor_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())
