"""Refuse a request body that is too large, or sent by someone not logged in, before reading it;
refuse a JSON or form body that is not UTF-8 while reading it, before any route sees it.

FastAPI reads a body before it runs the route's dependencies, the login check among them: without
this gate an anonymous client could make the server buffer (or spool to disk) any amount first.
"""

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import get_settings
from db.base import utcnow
from db.session import reading
from domain.errors import DomainError, FieldProblem, Invalid, NotAuthenticated
from domain.people import user_for_token
from inbox.api.errors import API_PREFIX, domain_error_response
from inbox.storable_input import Utf8Body, text_body_type

LOGIN_PATH = f"{API_PREFIX}/auth/token"
# Room for a multipart body's boundaries, part headers and the form's other fields (CSRF token)
# beside the largest accepted attachment.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


def too_large(limit: int) -> PayloadTooLarge:
    """Return the refusal of a body longer than `limit` bytes."""
    return PayloadTooLarge(
        "The request is too large: at most {limit} bytes are accepted", limit=f"{limit:,}"
    )


class BodyTooLarge(HTTPException):
    """Raised from the body stream past the limit (FastAPI re-raises HTTP errors met while
    parsing a body, where any other error would become a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413)
        self.limit = limit


class NotUtf8(Invalid):
    """A JSON or form body whose bytes are not UTF-8 text; each problem names where."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(problems)
        self.message = "The request body is not valid UTF-8 text"


class BodyNotUtf8(HTTPException):
    """Raised from the body stream at the first sign that it is not UTF-8 (FastAPI re-raises
    HTTP errors met while parsing a body, where any other error would become a bare 400)."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(status_code=422)
        self.error = NotUtf8(problems)


def body_limit(headers: Headers) -> int:
    """Return the largest body accepted for a request with `headers`."""
    settings = get_settings()
    if headers.get("content-type", "").startswith("multipart/form-data"):
        return settings.attachment_max_bytes + MULTIPART_OVERHEAD_BYTES
    return settings.max_request_bytes


class RequestBodyGate:
    """ASGI middleware: a body is read only within its limit and only from a logged-in client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        declared = _declared_length(request.headers)
        if declared == 0 or (declared is None and "transfer-encoding" not in request.headers):
            await self.app(scope, receive, send)
            return
        limit = body_limit(request.headers)
        if declared is not None and declared > limit:
            await domain_error_response(request, too_large(limit))(scope, receive, send)
            return
        refusal = await _login_missing(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        counted = _counted(receive, limit)
        content_type = request.headers.get("content-type", "")
        kind = text_body_type(content_type)
        checked = counted if kind is None else _utf8_checked(counted, Utf8Body(kind, content_type))
        await self.app(scope, checked, send)


def _declared_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _login_missing(request: Request) -> Response | None:
    """Return the answer to a body sent without a login, or None when the sender is logged in.

    The API checks the bearer token (logging in is the one body it takes from anyone); the web
    pages take uploads only from a browser with a session.
    """
    path = request.url.path
    if path.startswith(API_PREFIX):
        if path == LOGIN_PATH:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return domain_error_response(
                request, NotAuthenticated("Log in first: send a bearer token")
            )
        clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
        try:
            await run_in_threadpool(_check_token, token, clock())
        except NotAuthenticated as refusal:
            return domain_error_response(request, refusal)
        return None
    uploading = request.headers.get("content-type", "").startswith("multipart/form-data")
    if uploading and not request.session.get("token"):
        return RedirectResponse(f"/login?next={path}", status_code=303)
    return None


def _check_token(token: str, now: datetime) -> None:
    with reading() as session:
        user_for_token(session, token, now)


def _counted(receive: Receive, limit: int) -> Receive:
    """Return `receive` that raises BodyTooLarge once more than `limit` bytes have come in."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


def _utf8_checked(receive: Receive, check: Utf8Body) -> Receive:
    """Return `receive` that raises BodyNotUtf8 once `check` finds the body is not UTF-8.

    A form is judged at its last chunk, before that chunk reaches the route: no route acts on
    part of a body that is refused.
    """

    async def checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            final = not message.get("more_body", False)
            problems = check.feed(message.get("body", b""), final=final)
            if problems:
                raise BodyNotUtf8(problems)
        return message

    return checked


def install_request_body_gate(app: FastAPI) -> None:
    """Gate every request body of `app`; answer a body cut off at its limit with a 413, and a
    JSON or form body that is not UTF-8 with a 422 (a page for the browser, JSON for the API)."""
    app.add_middleware(RequestBodyGate)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> Response:
        return domain_error_response(request, too_large(exc.limit))

    @app.exception_handler(BodyNotUtf8)
    async def _not_utf8(request: Request, exc: BodyNotUtf8) -> Response:
        # The handler of domain errors installed last: the web's renders a page for its forms.
        handler = request.app.exception_handlers.get(DomainError)
        if handler is None:
            return domain_error_response(request, exc.error)
        response: Response = await handler(request, exc.error)
        return response
