"""Render every refusal as JSON naming the field and the reason, in the caller's language."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from domain.errors import DomainError, FieldProblem, Invalid, NotAuthenticated
from domain.validation import problems_from
from i18n import gettext_for, negotiate_locale


def request_locale(request: Request) -> str:
    """Return the locale the caller asked for (Chinese unless they ask for English)."""
    return negotiate_locale(request.headers.get("accept-language"))


def error_body(error: DomainError, locale: str) -> dict[str, Any]:
    """Return the JSON body for `error` translated into `locale`."""
    _ = gettext_for(locale)
    body: dict[str, Any] = {
        "code": error.code,
        "message": _(error.message).format(**error.params),
    }
    if isinstance(error, Invalid):
        body["fields"] = [_field(problem, _) for problem in error.problems]
    return {"error": body}


def _field(problem: FieldProblem, _: Any) -> dict[str, Any]:
    reason = _(problem.message).format(**problem.params)
    field = ".".join(str(part) for part in problem.loc)
    label = _(problem.label) if problem.label else field
    return {"field": field, "label": label, "message": f"{label}: {reason}" if label else reason}


def install_error_handlers(app: FastAPI) -> None:
    """Make the app answer domain and validation errors with translated JSON."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return JSONResponse(
            error_body(exc, request_locale(request)), status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = Invalid(problems_from(exc.errors()))
        return JSONResponse(error_body(error, request_locale(request)), status_code=error.status)
