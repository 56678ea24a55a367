"""The FastAPI application: the web inbox, and the REST API under /api/v1 (OpenAPI at /docs)."""

import importlib
import pkgutil
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi_offline import FastAPIOffline

from config import get_settings
from inbox.api import routes
from inbox.api.errors import API_PREFIX, install_error_handlers
from inbox.request_body import install_request_body_gate
from inbox.security_headers import SecurityHeaders
from inbox.storable_input import refuse_unstorable_input
from inbox.web.app import install_web

DOCS_URL = "/docs"


def create_app() -> FastAPI:
    """Build the inbox application."""
    about: dict[str, Any] = {
        "title": "kefu-flow 客服工作流",
        "description": "物业客服部工作流：任务收件箱、投诉处理、审批。Task inbox and processes.",
        "version": "0.1.0",
        "dependencies": [Depends(refuse_unstorable_input)],
    }
    settings = get_settings()
    if settings.environment == "production":
        # The API's map is for developers; production does not hand it to anyone who asks.
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **about)
    else:
        # Swagger UI and Redoc served from the installed package: the docs work offline.
        app = FastAPIOffline(docs_url=DOCS_URL, **about)
    api = APIRouter(prefix=API_PREFIX)
    # Every module in inbox/api/routes contributes its `router`; a process adds a file, no edit.
    for module_info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{module_info.name}")
        api.include_router(module.router)
    app.include_router(api)
    install_error_handlers(app)
    # Before the web's session middleware, so that the session wraps (and is read by) the gate.
    install_request_body_gate(app)
    install_web(app)
    app.add_middleware(SecurityHeaders, docs_url=DOCS_URL, public_base_url=settings.public_base_url)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
