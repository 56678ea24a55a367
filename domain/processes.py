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
    Process,
    ProcessKind,
    Resignation,
    Role,
    TaskState,
    TrainingPlan,
    User,
)
from domain.errors import NotFound
from domain.plan_access import involved_plan
from domain.task_access import PersonColumn, readable_tasks

# The people a case names (who it is about, who runs it): (their column, the row's process id).
# A training plan's people are read by its own rule (domain.plan_access).
CASE_PEOPLE: tuple[PersonColumn, ...] = (
    (Complaint.owner_of_record_id, Complaint.process_id),
    (NewHire.user_id, NewHire.process_id),
    (NewHire.trainer_id, NewHire.process_id),
    (NewHire.mentor_id, NewHire.process_id),
    (NewHire.registered_by_id, NewHire.process_id),
    (Resignation.leaver_id, Resignation.process_id),
    (Resignation.recorded_by_id, Resignation.process_id),
    (Resignation.successor_id, Resignation.process_id),
    (Resignation.supervisor_id, Resignation.process_id),
)


def get_process(session: Session, user: User, process_id: str) -> Process:
    """Return the process if `user` takes part in it now: they started it, are one of its
    people, hold, own or may pick up one of its tasks, or manage its site. A training plan is
    read by the plan's own rule (`involved_plan`), the one GET /training-plans/{id} applies.

    Having been told about it once is no reason: access ends with the involvement.
    """
    kind = session.scalar(select(Process.kind).where(Process.id == process_id))
    if kind == ProcessKind.TRAINING_PLAN:
        try:
            involved_plan(session, user, process_id)
            return session.get_one(Process, process_id)
        except NotFound:
            raise NotFound("Process {process_id} does not exist", process_id=process_id) from None
    statement = select(Process).where(Process.id == process_id)
    if not user.has_role(Role.OPS_ADMIN):
        works_on_it = readable_tasks(user).where(InboxTask.process_id == Process.id).exists()
        named_in_it = or_(
            *(exists().where(key == Process.id, person == user.id) for person, key in CASE_PEOPLE)
        )
        manages_it = Process.site_id == user.site_id if user.manages else false()
        statement = statement.where(
            or_(Process.started_by_id == user.id, works_on_it, named_in_it, manages_it)
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
