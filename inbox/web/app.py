"""Mount the web inbox on the application: session cookie, static files, pages, error pages."""

import importlib
import pkgutil
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from config import get_settings
from domain.errors import DomainError
from inbox.api.errors import API_PREFIX, domain_error_response
from inbox.web import routes
from inbox.web.rendering import render
from inbox.web.session import SESSION_COOKIE, LoginRequired

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

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return domain_error_response(request, exc)
        if isinstance(exc, LoginRequired):
            target = f"/login?next={request.url.path}"
            if request.headers.get("hx-request"):
                return Response(status_code=200, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        return render(request, "error.html", {"error": exc}, status_code=exc.status)
