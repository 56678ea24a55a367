"""A process's state, open tasks and full history."""

from fastapi import APIRouter, Request

from domain.events import history
from domain.processes import event_actors, get_process, open_tasks, process_details
from inbox.api.deps import CurrentUser, SessionDep
from inbox.api.errors import request_locale
from inbox.api.presenters import task_public
from inbox.api.schemas import EventPublic, ProcessPublic
from tasks.process_runs import process_run_url

router = APIRouter(prefix="/processes", tags=["processes"])


@router.get("/{process_id}", response_model=ProcessPublic)
def get_process_view(
    process_id: str, request: Request, session: SessionDep, user: CurrentUser
) -> ProcessPublic:
    """Show a process: its state, what it waits on, and every step with actor and time."""
    process = get_process(session, user, process_id)
    events = history(session, process_id)
    names = event_actors(session, events)
    details = process_details(session, process)
    locale = request_locale(request)
    return ProcessPublic(
        id=process.id,
        kind=process.kind,
        state=process.state,
        subject=process.subject,
        site_id=process.site_id,
        current_step=process.current_step,
        flow_run_id=process.flow_run_id,
        flow_run_url=process_run_url(process.flow_run_id),
        started_at=process.started_at,
        closed_at=process.closed_at,
        details=details,
        open_tasks=[task_public(t, locale) for t in open_tasks(session, process_id)],
        events=[
            EventPublic(
                id=e.id,
                kind=e.kind,
                at=e.at,
                actor_id=e.actor_id,
                actor_name=names.get(e.actor_id) if e.actor_id else None,
                task_id=e.task_id,
                data=e.data,
            )
            for e in events
        ],
    )
