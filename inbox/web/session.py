"""Who is at the browser: the login session cookie, CSRF tokens, and the acting user."""

import secrets
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from config import get_settings
from db.models import User
from db.session import reading, transaction
from domain.errors import DomainError, Forbidden, NotAuthenticated
from domain.form_drafts import drop_form_draft, keep_form_draft, take_form_draft
from domain.people import token_owner_id, user_for_token
from inbox.api.deps import ClockDep, get_clock

SESSION_COOKIE = "kefu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATH = "/login"
# The key of the form draft (domain/form_drafts.py) posted after the session ended.
DRAFT_KEY = "draft"
# Who was logged in when the session ended, so that only they get the draft back.
ENDED_USER_KEY = "ended_user"
# Set on a request whose posted form was already kept as a draft.
DRAFT_KEPT = "form_draft_kept"
# Posted fields a draft never keeps: the CSRF token, and any password (the admin's account and
# password forms) that would otherwise wait in the database in clear.
SECRET_FIELD_MARK = "password"


class LoginRequired(DomainError):
    """The browser has no valid session; the page sends it to the login form."""

    status = 401
    code = "login_required"


def start_session(request: Request, token: str) -> None:
    """Begin a fresh session for a logged-in person (a new CSRF token, no old keys kept but the
    key of a draft typed before the last session ended)."""
    _clear_keeping_draft(request)
    request.session["token"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)


def _clear_keeping_draft(request: Request) -> None:
    """Empty the session but for the key of a draft waiting for the next login."""
    draft_key = request.session.get(DRAFT_KEY)
    request.session.clear()
    if isinstance(draft_key, str):
        request.session[DRAFT_KEY] = draft_key


def form_page(path: str) -> str:
    """Return the page that holds the form posting to `path` (/tasks/5/complete → /tasks/5)."""
    parts = path.rstrip("/").split("/")
    return "/".join(parts[:-1]) if len(parts) > 3 else path


def _end_session(request: Request, token: str) -> None:
    """Forget the session's login, remembering whose it was so that a draft posted now can be
    given back to that person only."""
    with reading() as session:
        owner = token_owner_id(session, token)
    _clear_keeping_draft(request)
    if owner is not None:
        request.session[ENDED_USER_KEY] = owner


def _store_draft(
    page: str,
    fields: list[tuple[str, str]],
    user_id: int | None,
    replaced: str | None,
    now: datetime,
) -> str:
    with transaction() as session:
        if replaced is not None:
            drop_form_draft(session, replaced)
        lifetime = timedelta(hours=get_settings().form_draft_hours)
        return keep_form_draft(session, page, fields, user_id, now, lifetime)


def _keepable(field: str) -> bool:
    return field != CSRF_FIELD and SECRET_FIELD_MARK not in field.lower()


async def keep_draft(request: Request) -> None:
    """Keep what a person without a live session just posted, for the form's page after login:
    the fields wait in the database and the cookie holds only the draft's key (a cookie over
    ~4 KB is dropped by the browser, and a long form with it)."""
    if getattr(request.state, DRAFT_KEPT, False):
        return
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if _keepable(k) and isinstance(v, str)]
    owner = request.session.get(ENDED_USER_KEY)
    replaced = request.session.get(DRAFT_KEY)
    key = await run_in_threadpool(
        _store_draft,
        form_page(request.url.path),
        fields,
        owner if isinstance(owner, int) else None,
        replaced if isinstance(replaced, str) else None,
        get_clock(request)(),
    )
    request.session[DRAFT_KEY] = key
    setattr(request.state, DRAFT_KEPT, True)


def take_draft(request: Request, user: User, now: datetime) -> FormData | None:
    """Return (once) the fields kept for this page when this person's session ended mid-form."""
    key = request.session.get(DRAFT_KEY)
    if key is None:
        return None
    if not isinstance(key, str):  # a cookie from before drafts were kept server-side
        del request.session[DRAFT_KEY]
        return None
    with transaction() as session:
        found = take_form_draft(session, key, request.url.path, user.id, now)
    if found.spent:
        del request.session[DRAFT_KEY]
    return None if found.fields is None else FormData(found.fields)


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
        _end_session(request, token)
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
