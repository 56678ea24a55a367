"""Who is at the browser: the login session cookie, CSRF tokens, and the acting user."""

import secrets
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from db.models import User
from db.session import reading
from domain.errors import DomainError, Forbidden, NotAuthenticated
from domain.people import user_for_token
from inbox.api.deps import ClockDep

SESSION_COOKIE = "kefu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATH = "/login"
# Where a form posted after the session ended waits for the person to log in again.
DRAFT_KEY = "draft"


class LoginRequired(DomainError):
    """The browser has no valid session; the page sends it to the login form."""

    status = 401
    code = "login_required"


def start_session(request: Request, token: str) -> None:
    """Begin a fresh session for a logged-in person (a new CSRF token, no old keys kept but a
    draft typed before the last session ended)."""
    draft = request.session.get(DRAFT_KEY)
    request.session.clear()
    request.session["token"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)
    if draft:
        request.session[DRAFT_KEY] = draft


def form_page(path: str) -> str:
    """Return the page that holds the form posting to `path` (/tasks/5/complete → /tasks/5)."""
    parts = path.rstrip("/").split("/")
    return "/".join(parts[:-1]) if len(parts) > 3 else path


async def keep_draft(request: Request) -> None:
    """Keep what a person without a live session just posted, for the form's page after login."""
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if k != CSRF_FIELD and isinstance(v, str)]
    request.session[DRAFT_KEY] = {"page": form_page(request.url.path), "fields": fields}


def take_draft(request: Request) -> FormData | None:
    """Return (once) the fields kept for this page when its session ended mid-form."""
    draft = request.session.get(DRAFT_KEY)
    if not draft or draft.get("page") != request.url.path:
        return None
    del request.session[DRAFT_KEY]
    return FormData([(k, v) for k, v in draft["fields"]])


def ensure_csrf(request: Request) -> str:
    """Return the session's CSRF token, creating one for a visitor who has none yet."""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    token: str = request.session["csrf"]
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose CSRF token is missing or does not match; a form
    posted after the session ended is kept and the person asked to log in again."""
    if "token" not in request.session and request.url.path != LOGIN_PATH:
        await keep_draft(request)
        raise LoginRequired("Your session has ended; log in again")
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden("The form has expired; reload the page and try again")


async def submitted_form(request: Request) -> FormData:
    """Return the posted form, read here so that the route itself can be a plain function.

    FastAPI runs plain routes in its thread pool. An async route that writes to the database and
    hands a decision to Prefect (waiting up to seconds for the flow to pause) would hold up every
    other person's request on the event loop meanwhile.
    """
    return await request.form()


SubmittedForm = Annotated[FormData, Depends(submitted_form)]


def current_web_user(request: Request, clock: ClockDep) -> User:
    """Return the person logged in on this browser, or send them to the login page."""
    token = request.session.get("token")
    if not token:
        raise LoginRequired("Log in first")
    try:
        with reading() as session:
            return user_for_token(session, token, clock())
    except NotAuthenticated as exc:
        request.session.clear()
        raise LoginRequired("Your session has ended; log in again") from exc


def web_user_or_none(request: Request, now: datetime) -> User | None:
    """Return the person logged in on this browser, or None (an error page for anyone)."""
    token = request.session.get("token")
    if not token:
        return None
    try:
        with reading() as session:
            return user_for_token(session, token, now)
    except NotAuthenticated:
        return None  # an ended session: the error page shows without the navigation


def acting_user(session: Session, user: User) -> User:
    """Return `user` loaded in `session`, so that writes see its current roles."""
    return session.get_one(User, user.id)


WebUser = Annotated[User, Depends(current_web_user)]
CsrfChecked = Depends(check_csrf)
