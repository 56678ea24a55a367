"""The inbox: list tasks, claim, release, reassign and complete them."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request

from db.models import TaskState, User
from db.session import transaction
from domain import inbox, sla, task_access
from flows.catalog import STEPS
from inbox.api.deps import ClockDep, CurrentUser, SessionDep
from inbox.api.errors import request_locale
from inbox.api.presenters import task_public
from inbox.api.schemas import (
    AssigneePublic,
    CompletionPublic,
    OnBehalfRequest,
    PauseRequest,
    ReassignRequest,
    TaskPublic,
)
from tasks.human import hand_back_for_person

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", response_model=list[TaskPublic])
def list_tasks(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    scope: Literal["mine", "queue", "team", "all"] = "mine",
    state: TaskState | None = TaskState.OPEN,
    process: str | None = None,
    due_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TaskPublic]:
    """List my tasks, my role's unclaimed tasks, my team's, or all I may see."""
    criteria = inbox.TaskFilter(scope, state, process, due_before, limit, offset)
    tasks = inbox.list_tasks(session, user, criteria, clock())
    return [task_public(task, request_locale(request)) for task in tasks]


@router.get("/{task_id}", response_model=TaskPublic)
def get_task(task_id: int, request: Request, session: SessionDep, user: CurrentUser) -> TaskPublic:
    """Show one task with the JSON schema of the form that completes it."""
    task = task_access.get_task(session, user, task_id)
    return task_public(task, request_locale(request), with_form=True)


@router.post("/{task_id}/claim", response_model=TaskPublic)
def claim(
    task_id: int, request: Request, session: SessionDep, user: CurrentUser, clock: ClockDep
) -> TaskPublic:
    """Take an unclaimed task from my role's queue."""
    task = inbox.claim(session, user, task_id, clock())
    return task_public(task, request_locale(request))


@router.post("/{task_id}/unclaim", response_model=TaskPublic)
def unclaim(
    task_id: int, request: Request, session: SessionDep, user: CurrentUser, clock: ClockDep
) -> TaskPublic:
    """Put a task back into its role's queue."""
    task = inbox.unclaim(session, user, task_id, clock())
    return task_public(task, request_locale(request))


@router.get("/{task_id}/assignees", response_model=list[AssigneePublic])
def assignees(task_id: int, session: SessionDep, user: CurrentUser) -> list[AssigneePublic]:
    """List who may be handed this task (reassign, delegate): the people who may decide it."""
    task = task_access.get_task(session, user, task_id)
    return [
        AssigneePublic.model_validate(person)
        for person in task_access.eligible_assignees(session, task)
    ]


@router.post("/{task_id}/reassign", response_model=TaskPublic)
def reassign(
    task_id: int,
    body: ReassignRequest,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> TaskPublic:
    """Give a task to another person (shift leads and managers)."""
    current = task_access.get_task(session, user, task_id)
    task = inbox.reassign(
        session, user, task_id, body.to_user_id, body.reason, STEPS[current.step], clock()
    )
    return task_public(task, request_locale(request))


@router.post("/{task_id}/complete", response_model=CompletionPublic)
def complete(
    task_id: int,
    request: Request,
    user: CurrentUser,
    clock: ClockDep,
    decision: Annotated[dict[str, Any], Body(description="The step's form, as JSON")],
) -> CompletionPublic:
    """Submit the step's form; the process moves on to its next step."""
    with transaction() as session:
        actor = session.get_one(User, user.id)
        inbox.complete(session, actor, task_id, decision, STEPS, clock())
    return _handed_back(task_id, request, user, clock)


@router.post("/{task_id}/complete-on-behalf", response_model=CompletionPublic)
def complete_on_behalf(
    task_id: int, body: OnBehalfRequest, request: Request, user: CurrentUser, clock: ClockDep
) -> CompletionPublic:
    """Submit, as ops admin, the decision of a person who may decide the task; audited."""
    with transaction() as session:
        admin = session.get_one(User, user.id)
        inbox.complete_on_behalf(
            session, admin, task_id, body.on_behalf_of_id, body.reason, body.decision, STEPS,
            clock(),
        )  # fmt: skip
    return _handed_back(task_id, request, user, clock)


def _handed_back(
    task_id: int, request: Request, user: User, clock: Callable[[], datetime]
) -> CompletionPublic:
    """Resume the task's flow run with the stored decision; return the task as it stands."""
    # After the commit, never inside it: a second submit meets the committed "done" and gets
    # 409, and a failed resume leaves the decision safely stored for the sweep to retry.
    resumed = hand_back_for_person(task_id).settled
    with transaction() as session:
        task = task_access.get_task(session, session.get_one(User, user.id), task_id)
        return CompletionPublic(task=task_public(task, request_locale(request)), resumed=resumed)


@router.post("/{task_id}/pause", response_model=TaskPublic)
def pause_clock(
    task_id: int,
    body: PauseRequest,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> TaskPublic:
    """Stop the task's SLA clock: waiting for the resident, for parts, or for a third party."""
    task = sla.pause_clock(session, user, task_id, body.reason, body.note, clock())
    return task_public(task, request_locale(request))


@router.post("/{task_id}/resume-clock", response_model=TaskPublic)
def resume_clock(
    task_id: int, request: Request, session: SessionDep, user: CurrentUser, clock: ClockDep
) -> TaskPublic:
    """Restart a paused SLA clock; the due time moves out by the paused working time."""
    task = sla.resume_clock(session, user, task_id, clock())
    return task_public(task, request_locale(request))
