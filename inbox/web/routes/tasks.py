"""One task in the browser: its process, history and SLA, its form, and what can be done to it."""

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from config import get_settings
from db.models import InboxTask, ProcessKind, TaskState, User
from db.session import transaction
from domain import attachments, comments, inbox, sla, task_access, training_plan
from domain.errors import DomainError, Invalid
from domain.events import history
from domain.people import colleagues
from domain.processes import process_details
from flows.catalog import STEPS
from i18n import gettext_for
from inbox.api.deps import ClockDep
from inbox.web.case_view import case_view
from inbox.web.form_fields import (
    errors_by_path,
    form_fields,
    list_row_forms,
    listed_entries,
    parse_submission,
)
from inbox.web.rendering import countdown, no_store, page_locale, render
from inbox.web.session import CsrfChecked, SubmittedForm, WebUser, acting_user, take_draft
from notify.links import InvalidTaskLink, verify_link
from rules.sla import PauseReason
from tasks.human import hand_back_for_person
from tasks.process_runs import process_run_url

router = APIRouter(include_in_schema=False)


class LinkExpired(DomainError):
    """A notification's task link was altered or has expired."""

    status = 410
    code = "link_expired"


def _initial_values(session: Session, task: InboxTask) -> dict[str, Any]:
    """Return what the step's form starts with, taken from the task's context.

    A plan sent back for revision starts from the rejected version (its "document", or the
    version the context names); a list of rows (verdicts per handover item, attendance per
    attendee) gets one row per listed entry, so the person only fills in the decision beside each.
    """
    fields = STEPS[task.step].form.model_fields
    document = task.context.get("document")
    revised = task.context.get("version")
    if document is None and revised and task.process.kind == ProcessKind.TRAINING_PLAN:
        document = training_plan.version_document(session, task.process_id, revised)
    start = dict(document) if isinstance(document, dict) else {}
    start.update({k: v for k, v in task.context.items() if k in fields})
    for name, row_form in list_row_forms(STEPS[task.step].form).items():
        if name in start:
            continue
        for entries in task.context.values():
            keys = row_form.model_fields.keys()
            if (
                isinstance(entries, list)
                and entries
                and all(isinstance(e, dict) and keys & e.keys() for e in entries)
            ):
                start[name] = [{k: e[k] for k in keys if k in e} for e in entries]
                break
    return {k: v for k, v in start.items() if k in fields}


def task_page(
    request: Request,
    session: Session,
    user: User,
    task_id: int,
    now: Any,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render the task page; after a refused submit, with what was typed and the errors."""
    task = task_access.get_task(session, user, task_id)
    step = STEPS[task.step]
    process = task.process
    events = history(session, process.id)
    gettext = gettext_for(page_locale(request, user))
    may_act = task.state == TaskState.OPEN and task_access.may_act(user, task)
    # Form fields may name any colleague (a successor, a mentor); the task itself goes only to
    # someone who may decide it.
    person_options = [(str(p.id), p.display_name) for p in colleagues(session, task.site_id)]
    context = {
        "task": task,
        "step": step,
        "steps": STEPS,
        "process": process,
        "details": process_details(session, process),
        "events": events,
        **case_view(session, process, events),
        "comments": comments.comments_for(session, task.id),
        "attachments": attachments.attachments_for(session, task.id),
        "assignees": task_access.eligible_assignees(session, task),
        "sla": countdown(task.due_at, task.sla_started_at or task.created_at, now),
        "may_act": may_act,
        "may_manage": task_access.may_manage(user, task),
        # In the user's queue and theirs to decide (an escalation tier's queue may only watch).
        "may_claim": task.assignee_id is None
        and task.candidate_role is not None
        and user.has_role(task.candidate_role)
        and may_act,
        "opens_later": task.available_from > now,
        "fields": form_fields(
            step.form,
            values if values is not None else _initial_values(session, task),
            errors or {},
            gettext,
            person_options,
            listed=listed_entries(task.context),
        )
        if may_act
        else [],
        "errors": errors or {},
        "pause_reasons": list(PauseReason),
        "open_pause": next((p for p in task.pauses if p.ended_at is None), None),
        "flow_run_url": process_run_url(process.flow_run_id),
    }
    return render(request, "task.html", context, user=user, status_code=status_code)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def show_task(task_id: int, request: Request, user: WebUser, clock: ClockDep) -> HTMLResponse:
    """Show a task I may see; one I may not see does not exist for me (404). What I typed
    before my session ended comes back in the form."""
    draft = take_draft(request, user, clock())
    with transaction() as session:
        actor = acting_user(session, user)
        values = None
        if draft is not None:
            form = STEPS[task_access.get_task(session, actor, task_id).step].form
            values = parse_submission(form, draft, ZoneInfo(user.site.timezone))
        response = task_page(request, session, actor, task_id, clock(), values=values)
    return no_store(response)


@router.post("/tasks/{task_id}/complete", dependencies=[CsrfChecked])
def complete_task(
    task_id: int, request: Request, user: WebUser, clock: ClockDep, submitted: SubmittedForm
) -> Response:
    """Submit the step's form; refused input comes back with every field as it was typed."""
    with transaction() as session:
        task = task_access.get_task(session, acting_user(session, user), task_id)
        payload = parse_submission(STEPS[task.step].form, submitted, ZoneInfo(user.site.timezone))
    try:
        with transaction() as session:
            inbox.complete(session, acting_user(session, user), task_id, payload, STEPS, clock())
    except Invalid as refusal:
        gettext = gettext_for(page_locale(request, user))
        with transaction() as session:
            return task_page(
                request,
                session,
                acting_user(session, user),
                task_id,
                clock(),
                values=payload,
                errors=errors_by_path(refusal.problems, gettext),
                status_code=refusal.status,
            )
    # After the commit: a second submit meets "done" (409), and a failed resume is retried.
    resumed = hand_back_for_person(task_id).settled
    request.session["flash"] = {"completed": task_id, "resumed": resumed}
    return RedirectResponse("/inbox", status_code=303)


def _back(task_id: int) -> RedirectResponse:
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


@router.post("/tasks/{task_id}/claim", dependencies=[CsrfChecked])
def claim_task(
    task_id: int, user: WebUser, clock: ClockDep, back: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """Take a task from my role's queue (one tap in the queue list)."""
    with transaction() as session:
        inbox.claim(session, acting_user(session, user), task_id, clock())
    if back.startswith("/inbox"):
        return RedirectResponse(back, status_code=303)
    return _back(task_id)


@router.post("/tasks/{task_id}/unclaim", dependencies=[CsrfChecked])
def unclaim_task(task_id: int, user: WebUser, clock: ClockDep) -> RedirectResponse:
    """Put a task back into its role's queue."""
    with transaction() as session:
        inbox.unclaim(session, acting_user(session, user), task_id, clock())
    return _back(task_id)


@router.post("/tasks/{task_id}/reassign", dependencies=[CsrfChecked])
def reassign_task(
    task_id: int,
    user: WebUser,
    clock: ClockDep,
    to_user_id: Annotated[int, Form()],
    reason: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Give the task to someone else (shift leads and managers), with a reason."""
    with transaction() as session:
        actor = acting_user(session, user)
        step = STEPS[task_access.get_task(session, actor, task_id).step]
        inbox.reassign(session, actor, task_id, to_user_id, reason, step, clock())
    return _back(task_id)


@router.post("/tasks/{task_id}/delegate", dependencies=[CsrfChecked])
def delegate_task(
    task_id: int,
    user: WebUser,
    clock: ClockDep,
    to_user_id: Annotated[int, Form()],
    note: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Hand my task to a colleague; I stay its owner of record if I was."""
    with transaction() as session:
        actor = acting_user(session, user)
        step = STEPS[task_access.get_task(session, actor, task_id).step]
        inbox.delegate(session, actor, task_id, to_user_id, note, step, clock())
    return RedirectResponse("/inbox", status_code=303)


@router.post("/tasks/{task_id}/comments", dependencies=[CsrfChecked])
def comment_on_task(
    task_id: int, user: WebUser, clock: ClockDep, body: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """Add a note to the task's history."""
    with transaction() as session:
        comments.add_comment(session, acting_user(session, user), task_id, body, clock())
    return _back(task_id)


@router.post("/tasks/{task_id}/attachments", dependencies=[CsrfChecked])
def attach_file(
    task_id: int, user: WebUser, clock: ClockDep, file: Annotated[UploadFile, File()]
) -> RedirectResponse:
    """Attach a photo or document; too large or of a refused type gets a clear error."""
    settings = get_settings()
    # One byte more than the limit is enough to know the file is too large.
    data = file.file.read(settings.attachment_max_bytes + 1)
    with transaction() as session:
        attachments.store_attachment(
            session,
            acting_user(session, user),
            task_id,
            file.filename or "",
            file.content_type or "",
            data,
            settings.attachments_dir,
            clock(),
            settings.attachment_max_bytes,
        )
    return _back(task_id)


@router.get("/attachments/{attachment_id}")
def download_attachment(attachment_id: int, user: WebUser) -> FileResponse:
    """Download an attachment of a task I may see."""
    with transaction() as session:
        attachment, path = attachments.open_attachment(
            session, acting_user(session, user), attachment_id
        )
    return FileResponse(path, media_type=attachment.content_type, filename=attachment.filename)


@router.post("/tasks/{task_id}/pause", dependencies=[CsrfChecked])
def pause_task_clock(
    task_id: int,
    user: WebUser,
    clock: ClockDep,
    reason: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Stop the SLA clock while waiting for the resident, parts or a third party."""
    with transaction() as session:
        sla.pause_clock(session, acting_user(session, user), task_id, reason, note, clock())
    return _back(task_id)


@router.post("/tasks/{task_id}/resume-clock", dependencies=[CsrfChecked])
def resume_task_clock(task_id: int, user: WebUser, clock: ClockDep) -> RedirectResponse:
    """Restart the SLA clock."""
    with transaction() as session:
        sla.resume_clock(session, acting_user(session, user), task_id, clock())
    return _back(task_id)


@router.get("/t/{token}")
def follow_task_link(token: str, clock: ClockDep) -> RedirectResponse:
    """Open the task or case a notification links to; the page still asks for a login."""
    try:
        page = verify_link(token, now=clock())
    except InvalidTaskLink as exc:
        raise LinkExpired("This link is no longer valid; find the task in your inbox") from exc
    return RedirectResponse(page, status_code=303)
