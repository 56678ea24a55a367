"""Log in and out in the browser, and choose the page language."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from config import get_settings
from db.session import transaction
from domain.people import revoke_token
from inbox.api.deps import ClockDep
from inbox.sign_in import sign_in
from inbox.web.rendering import BABEL_LOCALES, LOCALE_COOKIE, render
from inbox.web.session import CsrfChecked, ensure_csrf, start_session

router = APIRouter(include_in_schema=False)
LOCALE_COOKIE_MAX_AGE = 365 * 24 * 3600


def _safe_next(target: str | None) -> str:
    """Return a same-site path to go to after login (never another host)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/inbox"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """Show the login form."""
    ensure_csrf(request)
    return render(request, "login.html", {"next": _safe_next(next), "username": ""})


@router.post("/login", dependencies=[CsrfChecked])
def log_in(
    request: Request,
    clock: ClockDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/inbox",
) -> Response:
    """Check the password; on success start a session, else show the form again."""
    now = clock()
    lifetime = timedelta(hours=get_settings().api_token_hours)
    attempt, token = sign_in(username.strip(), password, now, lifetime)
    if attempt.refusal is not None:
        context = {"next": _safe_next(next), "username": username, "error": attempt.refusal}
        return render(request, "login.html", context, status_code=attempt.refusal.status)
    start_session(request, token)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[CsrfChecked])
def log_out(request: Request) -> RedirectResponse:
    """End this browser's session and revoke its token."""
    token = request.session.get("token")
    if token:
        with transaction() as session:
            revoke_token(session, token)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/locale", dependencies=[CsrfChecked])
def choose_locale(
    request: Request, locale: Annotated[str, Form()], next: Annotated[str, Form()] = "/inbox"
) -> RedirectResponse:
    """Remember the chosen page language on this browser."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if locale in BABEL_LOCALES:
        response.set_cookie(
            LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_MAX_AGE, samesite="lax", httponly=True
        )
    return response
