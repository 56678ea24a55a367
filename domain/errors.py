"""Errors the services raise; one handler in the web layer renders them in the user's language."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldProblem:
    """What is wrong with one field: its location, an English message id and its parameters."""

    loc: tuple[str | int, ...]
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # the field's title, an English msgid


class DomainError(Exception):
    """A refusal the user can understand; `message` is an English msgid with {placeholders}."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class AccountLocked(NotAuthenticated):
    status = 429
    code = "account_locked"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Input that fails validation; carries one problem per field."""

    status = 422
    code = "invalid"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("The input is not valid")
        self.problems = problems

    @classmethod
    def field(cls, name: str, message: str, **params: Any) -> "Invalid":
        """Return an error about a single top-level field."""
        return cls([FieldProblem((name,), message, params)])
