"""Who may read a training plan: the people it involves, and those who oversee its site."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AttendanceRecord, Role, TrainingPlan, TrainingSession, User
from domain.errors import NotFound
from domain.training_plan import FALLBACK_APPROVING_ROLE, readable_plan

# Who reads every plan of their site: shift leads and managers oversee it, HR keeps the records.
OVERSEEING_ROLES = (Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER, Role.HR)


def involved_plan(session: Session, user: User, process_id: str) -> TrainingPlan:
    """Return the plan if `user` drafts, approves, attends, trains or oversees it; else NotFound.

    A plan names people, budgets and assessments, so a colleague it does not involve does not
    see it (it does not exist for them), as with a task they may not see.
    """
    plan = readable_plan(session, user, process_id)
    if user.has_role(Role.OPS_ADMIN, *OVERSEEING_ROLES, FALLBACK_APPROVING_ROLE):
        return plan
    if user.id in _named_people(session, plan) or _attends_by_role(plan, user):
        return plan
    raise NotFound("Training plan {process_id} does not exist", process_id=process_id)


def _named_people(session: Session, plan: TrainingPlan) -> set[int]:
    """Return everyone the plan names: drafter, deciders, trainers and attendees of any version."""
    named = {plan.drafter_id, plan.approved_by_id}
    named.update(d.decided_by_id for d in plan.decisions)
    for version in plan.versions:
        named.add(version.submitted_by_id)
        for item in version.document.get("items", []):
            named.add(item.get("trainer_id"))
            named.update(item.get("attendee_ids", []))
    sessions = select(TrainingSession.id).where(TrainingSession.process_id == plan.process_id)
    named.update(
        session.scalars(
            select(TrainingSession.trainer_id).where(TrainingSession.process_id == plan.process_id)
        )
    )
    named.update(
        session.scalars(
            select(AttendanceRecord.employee_id).where(AttendanceRecord.session_id.in_(sessions))
        )
    )
    return {user_id for user_id in named if user_id is not None}


def _attends_by_role(plan: TrainingPlan, user: User) -> bool:
    """Return whether an item of any version is attended by a role the user holds."""
    roles = [
        Role(role)
        for version in plan.versions
        for item in version.document.get("items", [])
        for role in item.get("attendee_roles", [])
    ]
    return user.has_role(*roles)
