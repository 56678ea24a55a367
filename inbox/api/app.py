"""The FastAPI application: the web inbox, and the REST API under /api/v1 (OpenAPI at /docs)."""

import importlib
import pkgutil

from fastapi import APIRouter, Depends, FastAPI

from inbox.api import routes
from inbox.api.errors import API_PREFIX, install_error_handlers
from inbox.request_body import install_request_body_gate
from inbox.storable_input import refuse_unstorable_input
from inbox.web.app import install_web


def create_app() -> FastAPI:
    """Build the inbox application."""
    app = FastAPI(
        title="kefu-flow 客服工作流",
        description="物业客服部工作流：任务收件箱、投诉处理、审批。Task inbox and processes.",
        version="0.1.0",
        dependencies=[Depends(refuse_unstorable_input)],
    )
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

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
