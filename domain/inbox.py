"""The task inbox: open a human step's task, and let people claim, hand on and complete it."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.orm import Session

from config import get_settings
from db.models import Complaint, InboxTask, Process, Role, TaskState, User
from domain.errors import Conflict, Forbidden, Invalid
from domain.events import EventKind, record_event
from domain.people import get_user, users_with_role
from domain.sla import start_clock
from domain.steps import HumanRequest, HumanStep
from domain.substitutes import active_substitute
from domain.task_access import (
    barred,
    deciding_roles,
    declared_step,
    get_task,
    may_act,
    may_manage,
    may_take,
    readable_tasks,
    why_not_take,
)
from domain.validation import validate_form
from notify.outbox import enqueue

# The inbox's views; "team" and "approvals" are for shift leads and managers.
SCOPES = ("mine", "queue", "upcoming", "done", "team", "approvals", "all")
DUE_WINDOWS = ("overdue", "today", "week")
# A free-text search lists the tasks of at most this many matching processes; the front desk
# searches by unit or resident, which matches a handful.
SEARCH_MAX_PROCESSES = 500


@dataclass(frozen=True)
class TaskFilter:
    """Which slice of the readable tasks to list."""

    scope: str = "mine"
    state: TaskState | None = TaskState.OPEN
    process_kind: str | None = None
    due_before: datetime | None = None
    limit: int = 50
    offset: int = 0
    site_id: int | None = None
    urgency: str | None = None
    search: str | None = None
    approval_steps: frozenset[str] = frozenset()


def list_tasks(
    session: Session, user: User, criteria: TaskFilter, now: datetime
) -> list[InboxTask]:
    """Return the tasks `user` may see in the chosen scope, soonest due first."""
    return list(session.scalars(tasks_statement(session, user, criteria, now)))


def list_task_ids(session: Session, user: User, criteria: TaskFilter, now: datetime) -> list[int]:
    """Return the ids of the tasks `list_tasks` would return, without loading the rows."""
    statement = tasks_statement(session, user, criteria, now)
    return list(session.scalars(statement.with_only_columns(InboxTask.id)))


def tasks_statement(
    session: Session, user: User, criteria: TaskFilter, now: datetime
) -> Select[tuple[InboxTask]]:
    """Return the statement of the tasks `user` may see in the chosen scope, soonest due first."""
    statement = readable_tasks(user)
    in_my_queue = and_(
        InboxTask.assignee_id.is_(None),
        InboxTask.site_id == user.site_id,
        InboxTask.candidate_role.in_([r.role for r in user.roles]),
    )
    state = criteria.state
    if criteria.scope == "mine":
        statement = statement.where(InboxTask.assignee_id == user.id)
    elif criteria.scope == "queue":
        statement = statement.where(in_my_queue)
    elif criteria.scope == "upcoming":
        state = TaskState.OPEN
        statement = statement.where(
            InboxTask.available_from > now, or_(InboxTask.assignee_id == user.id, in_my_queue)
        )
    elif criteria.scope == "done":
        state = TaskState.DONE
        statement = statement.where(InboxTask.completed_by_id == user.id)
    elif criteria.scope in ("team", "approvals") and not user.manages:
        raise Forbidden("Only shift leads and managers can see the team's tasks")
    elif criteria.scope == "approvals":
        statement = statement.where(
            InboxTask.step.in_(criteria.approval_steps),
            or_(InboxTask.assignee_id == user.id, in_my_queue),
        )
    if state is not None:
        statement = statement.where(InboxTask.state == state)
    if state == TaskState.OPEN and criteria.scope != "upcoming":
        statement = statement.where(InboxTask.available_from <= now)
    # Filters on the process go through IN (subquery): the few matching processes are found
    # first, then their tasks by index, instead of probing the process of every open task.
    if criteria.process_kind:
        kind = select(Process.id).where(Process.kind == criteria.process_kind)
        statement = statement.where(InboxTask.process_id.in_(kind))
    if criteria.site_id is not None:
        statement = statement.where(InboxTask.site_id == criteria.site_id)
    if criteria.due_before:
        statement = statement.where(InboxTask.due_at <= criteria.due_before)
    if criteria.urgency:
        urgent = select(Complaint.process_id).where(Complaint.urgency == criteria.urgency)
        statement = statement.where(InboxTask.process_id.in_(urgent))
    if criteria.search:
        # A search is selective: with the few matching processes named outright, the planner
        # reads their tasks by index rather than walking every open task in due order.
        pattern = f"%{criteria.search.strip()}%"
        # The placeholder promises the resident's name too, which is not in the subject.
        residents = select(Complaint.process_id).where(Complaint.resident_name.ilike(pattern))
        matching = session.scalars(
            select(Process.id)
            .where(or_(Process.subject.ilike(pattern), Process.id.in_(residents)))
            .limit(SEARCH_MAX_PROCESSES)
        ).all()
        statement = statement.where(InboxTask.process_id.in_(matching))
    if criteria.scope == "done":
        statement = statement.order_by(InboxTask.completed_at.desc(), InboxTask.id.desc())
    else:
        statement = statement.order_by(InboxTask.due_at.asc().nulls_last(), InboxTask.id)
    return statement.limit(criteria.limit).offset(criteria.offset)


def open_task(
    session: Session, step: HumanStep[Any], request: HumanRequest, flow_run_id: str, now: datetime
) -> InboxTask:
    """Create the inbox task of one step occurrence, once; a replay returns the existing task."""
    existing = session.scalar(
        select(InboxTask).where(
            InboxTask.flow_run_id == flow_run_id, InboxTask.step_key == request.key
        )
    )
    if existing is not None:
        return existing
    available_from = request.available_from or now
    task = InboxTask(
        process_id=request.process_id,
        flow_run_id=flow_run_id,
        step_key=request.key,
        step=step.name,
        site_id=request.site_id,
        assignee_id=request.assignee_id,
        candidate_role=request.candidate_role,
        owner_of_record_id=request.owner_of_record_id,
        available_from=available_from,
        due_at=request.due_at,
        context=request.context or {},
        created_at=now,
    )
    session.add(task)  # in the session first: its clock runs on its site's calendar
    if step.sla_target is not None and request.sla_ladder is not None:
        start_clock(task, request.sla_ladder, step.sla_target, request.sla_started_at or now, now)
    if task.sla_ladder is None and task.due_at is not None:
        # A due time without a ladder: the sweep looks at it once it passes (domain.sla).
        task.next_check_at = task.due_at
    # Someone out of office when the task opens gets it through their substitute, if the
    # substitute may decide the step; otherwise it waits for them (a manager can reassign it).
    substitute = (
        active_substitute(session, request.assignee_id, max(now, available_from))
        if request.assignee_id is not None
        else None
    )
    if substitute is not None and may_take(session, substitute, task, step):
        task.assignee_id = substitute.id
    else:
        substitute = None
    session.flush()
    session.execute(
        update(Process).where(Process.id == request.process_id).values(current_step=step.name)
    )
    record_event(
        session,
        process_id=request.process_id,
        task_id=task.id,
        kind=EventKind.TASK_OPENED,
        at=now,
        data={"step": step.name, "assignee_id": task.assignee_id, "role": task.candidate_role},
    )
    if substitute is not None:
        record_event(
            session,
            process_id=request.process_id,
            task_id=task.id,
            kind=EventKind.TASK_ROUTED_TO_SUBSTITUTE,
            at=now,
            data={"from_user_id": request.assignee_id, "to_user_id": substitute.id},
        )
    if task.available_from <= now:
        announce(session, task, step, now)
    # Otherwise the sweep announces it when it opens (onboarding day N opens on working day N).
    return task


def announce(session: Session, task: InboxTask, step: HumanStep[Any], now: datetime) -> None:
    """Tell the task's holders it is theirs now, once."""
    task.announced_at = now
    notify_holders(session, task, step, event="task_assigned", dedup=f"task:{task.id}:assigned")


def notify_holders(
    session: Session, task: InboxTask, step: HumanStep[Any], *, event: str, dedup: str
) -> None:
    """Tell whoever now holds `task` (its assignee, or everyone in its role queue)."""
    if task.assignee_id is not None:
        recipients = [get_user(session, task.assignee_id)]
    else:
        recipients = users_with_role(session, task.site_id, Role(task.candidate_role or ""))
    enqueue(
        session,
        event=event,
        recipients=recipients,
        context=task_message_context(task, step),
        dedup_key=dedup,
        process_id=task.process_id,
        task_id=task.id,
    )


def task_message_context(task: InboxTask, step: HumanStep[Any]) -> dict[str, Any]:
    """Return what a notification about `task` shows."""
    return {
        "step_title": step.title,
        "process_subject": task.process.subject,
        "due_at": task.due_at,
    }


def claim(session: Session, user: User, task_id: int, now: datetime) -> InboxTask:
    """Take an unclaimed task from the user's role queue; a second claimer gets a conflict."""
    task = get_task(session, user, task_id)
    if task.candidate_role is None or not user.has_role(Role(task.candidate_role)):
        raise Forbidden("This task is not in your role's queue")
    if task.site_id != user.site_id:
        raise Forbidden("This task belongs to another site")
    step = declared_step(task)
    if user.id in barred(session, task, step):
        raise Forbidden("You are part of this case and may not decide this step")
    if not user.has_role(*deciding_roles(task, step)):
        # An escalation tier's queue shows the task to that tier; it decides only if it may.
        raise Forbidden("You may not decide this step")
    won = session.execute(
        update(InboxTask)
        .where(
            InboxTask.id == task_id,
            InboxTask.state == TaskState.OPEN,
            InboxTask.assignee_id.is_(None),
        )
        .values(assignee_id=user.id)
    ).rowcount
    if not won:
        raise Conflict("The task is already claimed or no longer open")
    record_event(
        session,
        process_id=task.process_id,
        task_id=task.id,
        kind=EventKind.TASK_CLAIMED,
        at=now,
        actor_id=user.id,
    )
    session.refresh(task)
    return task


def unclaim(session: Session, user: User, task_id: int, now: datetime) -> InboxTask:
    """Put a claimed task back into its role queue, as its holder or a manager."""
    task = get_task(session, user, task_id)
    if task.assignee_id != user.id and not may_manage(user, task):
        raise Forbidden("Only the holder or a manager can release this task")
    if task.candidate_role is None:
        raise Conflict("This task has no role queue to return to; reassign it instead")
    holder = task.assignee_id
    released = session.execute(
        update(InboxTask)
        .where(
            InboxTask.id == task_id,
            InboxTask.state == TaskState.OPEN,
            InboxTask.assignee_id == holder,
            InboxTask.assignee_id.is_not(None),
        )
        .values(assignee_id=None)
    ).rowcount
    if not released:
        raise Conflict("The task is not claimed or no longer open")
    record_event(
        session,
        process_id=task.process_id,
        task_id=task.id,
        kind=EventKind.TASK_UNCLAIMED,
        at=now,
        actor_id=user.id,
        data={"from_user_id": holder},
    )
    session.refresh(task)
    return task


def reassign(
    session: Session,
    user: User,
    task_id: int,
    to_user_id: int,
    reason: str,
    step: HumanStep[Any],
    now: datetime,
) -> InboxTask:
    """Give an open task to another person at its site, as a manager; audited and notified."""
    task = get_task(session, user, task_id)
    if not may_manage(user, task):
        raise Forbidden("Only shift leads and managers can reassign tasks")
    if not reason.strip():
        raise Invalid.field("reason", "A reason is required")
    return _hand_over(
        session, user, task, to_user_id, step, now, EventKind.TASK_REASSIGNED, reason=reason
    )


def delegate(
    session: Session,
    user: User,
    task_id: int,
    to_user_id: int,
    note: str,
    step: HumanStep[Any],
    now: datetime,
) -> InboxTask:
    """Hand my own open task to a colleague at my site; the owner of record stays."""
    task = get_task(session, user, task_id)
    if task.assignee_id != user.id:
        raise Forbidden("Only the task's holder can delegate it")
    if to_user_id == user.id:
        raise Invalid.field("to_user_id", "Choose a colleague other than yourself")
    return _hand_over(
        session, user, task, to_user_id, step, now, EventKind.TASK_DELEGATED, note=note
    )


def _hand_over(
    session: Session,
    actor: User,
    task: InboxTask,
    to_user_id: int,
    step: HumanStep[Any],
    now: datetime,
    kind: EventKind,
    **why: str,
) -> InboxTask:
    """Move `task` from its current holder to `to_user_id` if nobody moved it meanwhile."""
    target = session.get(User, to_user_id)
    if target is None or not target.active:
        raise Invalid.field("to_user_id", "No active user with this id")
    refusal = why_not_take(session, target, task, declared_step(task))
    if refusal is not None:
        raise Invalid.field("to_user_id", refusal)
    holder = task.assignee_id
    moved = session.execute(
        update(InboxTask)
        .where(
            InboxTask.id == task.id,
            InboxTask.state == TaskState.OPEN,
            InboxTask.assignee_id.is_(None) if holder is None else InboxTask.assignee_id == holder,
        )
        .values(assignee_id=target.id)
    ).rowcount
    if not moved:
        raise Conflict("The task changed meanwhile; reload and try again")
    event = record_event(
        session,
        process_id=task.process_id,
        task_id=task.id,
        kind=kind,
        at=now,
        actor_id=actor.id,
        data={"from_user_id": holder, "to_user_id": target.id, **why},
    )
    session.refresh(task)
    assert event is not None
    notify_holders(
        session, task, step, event="task_assigned", dedup=f"task:{task.id}:event:{event.id}"
    )
    return task


def complete(
    session: Session,
    user: User,
    task_id: int,
    payload: Mapping[str, Any],
    steps: Mapping[str, HumanStep[Any]],
    now: datetime,
) -> InboxTask:
    """Validate and record a person's decision on a task; exactly one completion ever wins."""
    task = get_task(session, user, task_id)
    return _record_decision(session, user, user, task, payload, steps, now, {})


def complete_on_behalf(
    session: Session,
    admin: User,
    task_id: int,
    on_behalf_of_id: int,
    reason: str,
    payload: Mapping[str, Any],
    steps: Mapping[str, HumanStep[Any]],
    now: datetime,
) -> InboxTask:
    """Record, as ops admin, the decision a person who may decide the task gave; audited.

    The decision counts as theirs, and the event names both the admin and the person.
    """
    if not admin.has_role(Role.OPS_ADMIN):
        raise Forbidden("Only an ops admin can act on someone's behalf")
    if not reason.strip():
        raise Invalid.field("reason", "A reason is required")
    task = get_task(session, admin, task_id)
    person = session.get(User, on_behalf_of_id)
    if person is None or not person.active:
        raise Invalid.field("on_behalf_of_id", "No active user with this id")
    if not may_act(person, task):
        raise Invalid.field("on_behalf_of_id", "This person may not decide this task")
    audit = {"on_behalf_of_id": person.id, "reason": reason.strip()}
    return _record_decision(session, admin, person, task, payload, steps, now, audit)


def _record_decision(
    session: Session,
    actor: User,
    decider: User,
    task: InboxTask,
    payload: Mapping[str, Any],
    steps: Mapping[str, HumanStep[Any]],
    now: datetime,
    audit: dict[str, Any],
) -> InboxTask:
    """Complete `task` with `decider`'s decision, entered by `actor`, if nobody did meanwhile."""
    if task.state != TaskState.OPEN:
        raise Conflict("The task is already completed")
    if not may_act(decider, task):
        if task.assignee_id not in (None, decider.id):
            raise Forbidden("This task is assigned to someone else")
        raise Forbidden("You may not decide this step")
    if task.available_from > now:
        raise Conflict("This task opens later")
    decision = validate_form(steps[task.step].form, payload, task.context)
    result = decision.model_dump(mode="json")
    done = session.execute(
        update(InboxTask)
        .where(InboxTask.id == task.id, InboxTask.state == TaskState.OPEN)
        .values(
            state=TaskState.DONE,
            result=result,
            completed_by_id=decider.id,
            completed_at=now,
            resume_retry_at=now + resume_retry_after(),
            assignee_id=task.assignee_id or decider.id,
        )
    ).rowcount
    if not done:
        raise Conflict("The task is already completed")
    record_event(
        session,
        process_id=task.process_id,
        task_id=task.id,
        kind=EventKind.TASK_COMPLETED,
        at=now,
        actor_id=actor.id,
        data={"step": task.step, "result": result, **audit},
    )
    session.refresh(task)
    return task


def resume_retry_after() -> timedelta:
    """Return how long after a completion (or a failed hand-back) the sweep hands it back.

    Long enough that the sweep never races the inbox's own immediate hand-back.
    """
    return timedelta(seconds=get_settings().resume_retry_after_seconds)


def unresumed_tasks(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Return ids of completed tasks whose flow run was not told yet and that are due a try.

    The longest-waiting first; a task tried again is due later, so a few tasks that keep
    failing never keep the others from their turn.
    """
    return list(
        session.scalars(
            select(InboxTask.id)
            .where(
                InboxTask.state == TaskState.DONE,
                InboxTask.resumed_at.is_(None),
                InboxTask.resume_retry_at <= now,
            )
            .order_by(InboxTask.resume_retry_at)
            .limit(limit)
        )
    )
