"""Start a process from the browser, and follow one: its facts, open tasks and history."""

import re
import uuid
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from db.models import ProcessKind, User
from db.session import transaction
from domain.errors import Forbidden, Invalid
from domain.events import history
from domain.people import colleagues
from domain.processes import get_process, open_tasks, process_details
from domain.validation import validate_form
from flows.catalog import STEPS
from i18n import gettext_for
from inbox.api.deps import ClockDep
from inbox.intake import INTAKES, start_process
from inbox.web.case_view import case_view
from inbox.web.form_fields import errors_by_path, form_fields, parse_submission
from inbox.web.rendering import no_store, page_locale, render
from inbox.web.session import CsrfChecked, SubmittedForm, WebUser, acting_user, take_draft
from tasks.process_runs import process_run_url

router = APIRouter(include_in_schema=False)
START_KEY_FIELD = "idempotency_key"
_START_KEY = re.compile(r"[0-9a-f-]{36}")


def _start_page(
    request: Request,
    user: User,
    kind: ProcessKind,
    values: dict[str, object],
    errors: dict[str, str],
    start_key: str,
    status_code: int = 200,
) -> HTMLResponse:
    intake = INTAKES[kind]
    gettext = gettext_for(page_locale(request, user))
    with transaction() as session:
        people = [(str(p.id), p.display_name) for p in colleagues(session, user.site_id)]
        sites = [(str(s.id), s.name) for s in intake.sites(session, user)] if intake.sites else None
    fields = form_fields(intake.form, values, errors, gettext, people, sites=sites)
    kinds = [kind for kind, other in INTAKES.items() if other.may_start(user)]
    context = {
        "intake": intake,
        "fields": fields,
        "kinds": kinds,
        "errors": errors,
        "start_key": start_key,
    }
    return render(request, "start.html", context, user=user, status_code=status_code)


def _start_key_of(submitted: FormData) -> str | None:
    """Return the well-formed start key a submitted form carries, if any."""
    sent_key = submitted.get(START_KEY_FIELD)
    return sent_key if isinstance(sent_key, str) and _START_KEY.fullmatch(sent_key) else None


@router.get("/start", response_class=HTMLResponse)
def start_index(request: Request, user: WebUser) -> HTMLResponse:
    """List the processes this person may start from the browser."""
    intakes = {kind: intake for kind, intake in INTAKES.items() if intake.may_start(user)}
    return render(request, "start_index.html", {"intakes": intakes}, user=user)


@router.get("/start/{kind}", response_class=HTMLResponse)
def start_form(kind: ProcessKind, request: Request, user: WebUser, clock: ClockDep) -> HTMLResponse:
    """Show the intake form of a process (the front desk's complaint form, a new hire, …); one
    the person may not start says so instead of a form they would fill in vain."""
    if not INTAKES[kind].may_start(user):
        raise Forbidden("You may not start this process; ask a colleague whose role does")
    defaults: dict[str, object] = {"channel": "phone"} if kind == ProcessKind.COMPLAINT else {}
    # One key per form shown: submitting it twice (a double click, a retry) starts one process.
    # A draft kept over a lapsed login keeps its key: that post started nothing.
    start_key = str(uuid.uuid4())
    draft = take_draft(request, user, clock())
    if draft is not None:
        defaults = parse_submission(INTAKES[kind].form, draft, ZoneInfo(user.site.timezone))
        start_key = _start_key_of(draft) or start_key
    return no_store(_start_page(request, user, kind, defaults, {}, start_key))


@router.post("/start/{kind}", dependencies=[CsrfChecked])
def start(
    kind: ProcessKind, request: Request, user: WebUser, clock: ClockDep, submitted: SubmittedForm
) -> Response:
    """Record the process; refused input comes back as typed, with each field's error."""
    payload = parse_submission(INTAKES[kind].form, submitted, ZoneInfo(user.site.timezone))
    key = _start_key_of(submitted)
    try:
        intake = validate_form(INTAKES[kind].form, payload)
        process = start_process(kind, user.id, intake, clock(), key)
    except Invalid as refusal:
        gettext = gettext_for(page_locale(request, user))
        errors = errors_by_path(refusal.problems, gettext)
        # A refused start took no key: the corrected form may use the same one.
        start_key = key or str(uuid.uuid4())
        return _start_page(request, user, kind, payload, errors, start_key, refusal.status)
    return RedirectResponse(f"/processes/{process.id}", status_code=303)


@router.get("/processes/{process_id}", response_class=HTMLResponse)
def show_process(process_id: str, request: Request, user: WebUser) -> HTMLResponse:
    """Show a process I may see: its facts, what it waits on, and every step with actor and time."""
    with transaction() as session:
        process = get_process(session, acting_user(session, user), process_id)
        events = history(session, process_id)
        context = {
            "process": process,
            "details": process_details(session, process),
            "open_tasks": open_tasks(session, process_id),
            "steps": STEPS,
            "events": events,
            **case_view(session, process, events),
            "flow_run_url": process_run_url(process.flow_run_id),
        }
        return render(request, "process.html", context, user=user)
