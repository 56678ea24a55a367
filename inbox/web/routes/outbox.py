"""Outbox operations for ops admins: deliveries that failed, died or ended unknown, and retry;
task notices skipped because their task closed first; processes the watchdog gave up restarting."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from db.models import DeliveryState
from db.session import transaction
from domain import watchdog
from inbox.api.deps import ClockDep
from inbox.web.rendering import render
from inbox.web.routes.admin import OpsAdmin
from inbox.web.session import CsrfChecked, acting_user
from notify import operations

router = APIRouter(include_in_schema=False)
SHOWN_PROBLEMS = 100


@router.get("/admin/outbox", response_class=HTMLResponse)
def outbox_page(
    request: Request, user: OpsAdmin, state: DeliveryState | None = None
) -> HTMLResponse:
    """List the deliveries that need a look, newest first, with their last error."""
    states = [state] if state else list(operations.PROBLEM_STATES)
    with transaction() as session:
        actor = acting_user(session, user)
        context = {
            "section": "outbox",
            "counts": operations.delivery_counts(session, actor),
            "problems": operations.list_problem_deliveries(
                session, actor, states=states, limit=SHOWN_PROBLEMS
            ),
            "problem_states": list(operations.PROBLEM_STATES),
            "listed_states": [*operations.PROBLEM_STATES, DeliveryState.SKIPPED],
            "chosen": state,
            "stuck_processes": watchdog.flagged_processes(session, SHOWN_PROBLEMS),
        }
        return render(request, "admin_outbox.html", context, user=user)


@router.post("/admin/outbox/{message_id}/retry", dependencies=[CsrfChecked])
def retry(message_id: int, user: OpsAdmin, clock: ClockDep) -> RedirectResponse:
    """Queue one delivery again with a fresh set of attempts."""
    with transaction() as session:
        operations.retry_delivery(session, acting_user(session, user), message_id, clock())
    return RedirectResponse("/admin/outbox", status_code=303)
