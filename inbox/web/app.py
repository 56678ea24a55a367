"""Mount the web inbox on the application: session cookie, static files, pages, error pages."""

import importlib
import pkgutil
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.status import HTTP_405_METHOD_NOT_ALLOWED

from config import get_settings
from domain.errors import DomainError, Invalid
from domain.validation import problems_from
from inbox.api.deps import get_clock
from inbox.api.errors import API_PREFIX, domain_error_response
from inbox.web import routes
from inbox.web.rendering import render
from inbox.web.session import (
    SESSION_COOKIE,
    LoginRequired,
    form_page,
    keep_draft,
    web_user_or_none,
)

STATIC_DIR = Path(__file__).parent / "static"
SESSION_MAX_AGE_SECONDS = 12 * 3600


def install_web(app: FastAPI) -> None:
    """Add the browser pages to `app`; the REST API keeps answering in JSON."""
    settings = get_settings()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_SECONDS,
        same_site="lax",
        https_only=settings.public_base_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module_info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{module_info.name}")
        app.include_router(module.router)

    api_validation_handler = app.exception_handlers[RequestValidationError]

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return domain_error_response(request, exc)
        if isinstance(exc, LoginRequired):
            if request.method == "POST":
                await keep_draft(request)
            target = f"/login?next={quote(form_page(request.url.path))}"
            if request.headers.get("hx-request"):
                return Response(status_code=200, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        return error_page(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return await api_validation_handler(request, exc)
        return error_page(request, Invalid(problems_from(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(API_PREFIX) or request.url.path.startswith("/static"):
            return await http_exception_handler(request, exc)
        if exc.status_code == HTTP_405_METHOD_NOT_ALLOWED and request.method == "GET":
            # A form's address reloaded or typed in (after its POST): back to the form's page.
            return RedirectResponse(form_page(request.url.path), status_code=303)
        return error_page(request, PageMissing("This page does not exist"))


class PageMissing(DomainError):
    """An address the web inbox does not have."""

    status = 404
    code = "not_found"


def error_page(request: Request, error: DomainError) -> Response:
    """Render `error` as a page with the navigation, for whoever is logged in on this browser."""
    user = web_user_or_none(request, get_clock(request)())
    back = form_page(request.url.path) if request.method == "POST" else "/inbox"
    context = {"error": error, "back": back}
    return render(request, "error.html", context, user=user, status_code=error.status)
