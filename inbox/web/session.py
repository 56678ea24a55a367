"""Who is at the browser: the login session cookie, CSRF tokens, and the acting user."""

import secrets
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from db.models import User
from db.session import transaction
from domain.errors import DomainError, Forbidden, NotAuthenticated
from domain.people import user_for_token
from inbox.api.deps import ClockDep

SESSION_COOKIE = "kefu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(DomainError):
    """The browser has no valid session; the page sends it to the login form."""

    status = 401
    code = "login_required"


def start_session(request: Request, token: str) -> None:
    """Begin a fresh session for a logged-in person (a new CSRF token, no old keys kept)."""
    request.session.clear()
    request.session["token"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)


def ensure_csrf(request: Request) -> str:
    """Return the session's CSRF token, creating one for a visitor who has none yet."""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    token: str = request.session["csrf"]
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose CSRF token is missing or does not match."""
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
        with transaction() as session:
            return user_for_token(session, token, clock())
    except NotAuthenticated as exc:
        request.session.clear()
        raise LoginRequired("Your session has ended; log in again") from exc


def acting_user(session: Session, user: User) -> User:
    """Return `user` loaded in `session`, so that writes see its current roles."""
    return session.get_one(User, user.id)


WebUser = Annotated[User, Depends(current_web_user)]
CsrfChecked = Depends(check_csrf)
