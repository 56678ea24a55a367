"""Render every refusal as JSON naming the field and the reason, in the caller's language."""

import inspect
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from domain.errors import DomainError, FieldProblem, Invalid, NotAuthenticated
from domain.validation import problems_from
from i18n import gettext_for, negotiate_locale

API_PREFIX = "/api/v1"


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


def domain_error_response(request: Request, exc: DomainError) -> JSONResponse:
    """Return the JSON refusal for a domain error."""
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    return JSONResponse(
        error_body(exc, request_locale(request)), status_code=exc.status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make the app answer domain and validation errors with translated JSON."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = Invalid(problems_from(exc.errors(), _body_form(request)))
        return JSONResponse(error_body(error, request_locale(request)), status_code=error.status)


def _body_form(request: Request) -> type[BaseModel] | None:
    """Return the form a route reads its body as, so that field errors carry its labels."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    forms = [
        param.field_info.annotation
        for param in (dependant.body_params if dependant else [])
        if inspect.isclass(param.field_info.annotation)
        and issubclass(param.field_info.annotation, BaseModel)
    ]
    return forms[0] if len(forms) == 1 else None
