"""Out of office: who stands in for whom, and when (tasks meant for them go to the substitute)."""

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from db.session import transaction
from domain import substitutes
from domain.errors import Invalid
from domain.people import colleagues
from i18n import gettext_for
from inbox.api.deps import ClockDep
from inbox.web.rendering import page_locale, render
from inbox.web.session import CsrfChecked, WebUser, acting_user

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, user: WebUser, now: datetime, error: str | None = None, status: int = 200
) -> HTMLResponse:
    with transaction() as session:
        context = {
            "substitutions": substitutes.substitutions_for(session, user.site_id, now),
            "people": colleagues(session, user.site_id),
            "error": error,
            "now": now,
        }
        return render(request, "out_of_office.html", context, user=user, status_code=status)


@router.get("/out-of-office", response_class=HTMLResponse)
def out_of_office_page(request: Request, user: WebUser, clock: ClockDep) -> HTMLResponse:
    """Show the site's current and planned substitutions, and the form to arrange one."""
    return _page(request, user, clock())


@router.post("/out-of-office", dependencies=[CsrfChecked])
def arrange_substitute(
    request: Request,
    user: WebUser,
    clock: ClockDep,
    user_id: Annotated[int, Form()],
    substitute_id: Annotated[int, Form()],
    starts_at: Annotated[str, Form()],
    ends_at: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Arrange a substitute for myself, or (as a manager) for someone at my site."""
    zone = ZoneInfo(user.site.timezone)
    try:
        starts, ends = (
            datetime.fromisoformat(v).replace(tzinfo=zone) for v in (starts_at, ends_at)
        )
    except ValueError:
        problem = Invalid.field("starts_at", "Must be a date and time")
        return _page(request, user, clock(), _message(request, user, problem), problem.status)
    try:
        with transaction() as session:
            substitutes.set_substitute(
                session, acting_user(session, user), user_id, substitute_id, starts, ends,
                reason, clock(),
            )  # fmt: skip
    except Invalid as refusal:
        return _page(request, user, clock(), _message(request, user, refusal), refusal.status)
    return RedirectResponse("/out-of-office", status_code=303)


@router.post("/out-of-office/{substitution_id}/cancel", dependencies=[CsrfChecked])
def cancel_substitute(substitution_id: int, user: WebUser, clock: ClockDep) -> RedirectResponse:
    """Call off a substitution."""
    with transaction() as session:
        substitutes.cancel_substitute(session, acting_user(session, user), substitution_id, clock())
    return RedirectResponse("/out-of-office", status_code=303)


def _message(request: Request, user: WebUser, refusal: Invalid) -> str:
    gettext = gettext_for(page_locale(request, user))
    return "; ".join(
        f"{gettext(p.label or str(p.loc[-1]))}: {gettext(p.message).format(**p.params)}"
        for p in refusal.problems
    )
