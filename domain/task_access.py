"""Who may see, decide and be handed inbox tasks: the one readable statement every view shares,
and the one rule (the step's `decided_by` / `not_by`) every write reads."""

from typing import Any

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, object_session

from db.models import (
    InboxTask,
    NewHire,
    Resignation,
    Role,
    TrainingPlan,
    TrainingPlanVersion,
    User,
    UserRole,
)
from domain.errors import NotFound
from domain.steps import HumanStep, Party
from rules.sla import TierRole

# A column naming a person, and the process id of the same row.
PersonColumn = tuple[InstrumentedAttribute[int | None], InstrumentedAttribute[str]]
# Where each party of a case is written.
PARTY_COLUMNS: dict[Party, tuple[PersonColumn, ...]] = {
    # Whoever submitted any version drafted what is approved, not only the plan's first drafter.
    Party.DRAFTER: (
        (TrainingPlan.drafter_id, TrainingPlan.process_id),
        (TrainingPlanVersion.submitted_by_id, TrainingPlanVersion.process_id),
    ),
    Party.LEAVER: ((Resignation.leaver_id, Resignation.process_id),),
    Party.SUCCESSOR: ((Resignation.successor_id, Resignation.process_id),),
    Party.NEW_HIRE: ((NewHire.user_id, NewHire.process_id),),
}


def readable_tasks(user: User) -> Select[tuple[InboxTask]]:
    """Return the one statement that defines which tasks `user` may see."""
    statement = select(InboxTask)
    if user.has_role(Role.OPS_ADMIN):
        return statement
    held_roles = [r.role for r in user.roles]
    return statement.where(
        or_(
            InboxTask.assignee_id == user.id,
            InboxTask.owner_of_record_id == user.id,
            and_(
                InboxTask.site_id == user.site_id,
                InboxTask.assignee_id.is_(None),
                InboxTask.candidate_role.in_(held_roles),
            ),
            InboxTask.site_id == user.site_id if user.manages else false(),
        )
    )


def declared_step(task: InboxTask) -> HumanStep[Any]:
    """Return the declaration of `task`'s step, from the flows' step catalogue."""
    # The flows import the domain, so the catalogue is looked up when first needed.
    from flows.catalog import STEPS

    return STEPS[task.step]


def barred(session: Session, task: InboxTask, step: HumanStep[Any]) -> set[int]:
    """Return the ids of the people `step.not_by` keeps from deciding `task`."""
    ids: set[int] = set()
    for party in step.not_by:
        for person, process_id in PARTY_COLUMNS[party]:
            found = session.scalars(select(person).where(process_id == task.process_id))
            ids.update(person_id for person_id in found if person_id is not None)
    return ids


def deciding_roles(task: InboxTask, step: HumanStep[Any]) -> set[Role]:
    """Return the roles whose members at the site may decide `task` or be handed it."""
    roles = set(step.decided_by)
    if task.candidate_role is None:
        return roles
    # The queue the flow put the task in decides it too. An escalation ladder's queue brings its
    # tier in to see and hand on the task, but decides only a step the declaration leaves to the
    # queue (a department's work): a decision that belongs to a role stays with that role.
    if task.tier == TierRole.STAFF or not step.decided_by:
        roles.add(Role(task.candidate_role))
    return roles


def why_not_take(session: Session, user: User, task: InboxTask, step: HumanStep[Any]) -> str | None:
    """Return why `user` may not be given `task` (an English msgid), or None if they may."""
    if not user.active:
        return "This person's account is disabled"
    if user.site_id != task.site_id:
        return "This person works at another site"
    if not user.has_role(*deciding_roles(task, step)):
        return "This person does not hold a role that decides this step"
    if user.id in barred(session, task, step):
        return "This person is part of the case and may not decide this step"
    return None


def may_take(session: Session, user: User, task: InboxTask, step: HumanStep[Any]) -> bool:
    """Return whether `user` may be given `task` (claim, reassign, delegate, substitute)."""
    return why_not_take(session, user, task, step) is None


def eligible_assignees(session: Session, task: InboxTask) -> list[User]:
    """Return the people `task` may be handed to, by name; its current holder excluded."""
    step = declared_step(task)
    held = select(UserRole.user_id).where(UserRole.role.in_(deciding_roles(task, step)))
    shut_out = barred(session, task, step)
    if task.assignee_id is not None:
        shut_out.add(task.assignee_id)
    return list(
        session.scalars(
            select(User)
            .where(User.site_id == task.site_id, User.active, User.id.in_(held))
            .where(User.id.not_in(shut_out))
            .order_by(User.display_name, User.id)
        )
    )


def may_act(user: User, task: InboxTask) -> bool:
    """Return whether `user` may complete `task`.

    Nobody the step bars may. Its holder may; a task nobody holds (in a queue, e.g. after an
    escalation) is open to whoever may take it: its queue, and its owner of record (首问负责)
    only when they hold a role that decides the step. Once a colleague holds it, only they may.
    """
    session = object_session(task)
    assert session is not None, "a task is read through a session"
    step = declared_step(task)
    if user.id in barred(session, task, step):
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return may_take(session, user, task, step)


def may_manage(user: User, task: InboxTask) -> bool:
    """Return whether `user` oversees `task` (reassign, unclaim on someone's behalf)."""
    return user.has_role(Role.OPS_ADMIN) or (user.manages and user.site_id == task.site_id)


def get_task(session: Session, user: User, task_id: int) -> InboxTask:
    """Return the task if `user` may see it; a task they may not see does not exist for them."""
    task = session.scalar(readable_tasks(user).where(InboxTask.id == task_id))
    if task is None:
        raise NotFound("Task {task_id} does not exist", task_id=task_id)
    return task
