"""The declaration of a human step: its persisted name, title, form and deadline rule."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=BaseModel)
# Prefect stores a pause's input under its key and accepts only this alphabet.
STEP_KEY = re.compile(r"[a-z0-9-]+")


@dataclass(frozen=True)
class HumanStep(Generic[F]):
    """A step that waits for a person. `name` is persisted: renaming it is a migration."""

    name: str
    title: str  # English msgid; shown translated
    form: type[F]
    # Which SLA target of the process's ladder sets the due time ("first_response", ...).
    sla_target: str | None = None
    # A manager's decision on someone else's work: listed in the managers' approvals queue.
    approval: bool = False


@dataclass(frozen=True)
class HumanRequest:
    """Who should act on one occurrence of a step, for which process, by when."""

    process_id: str
    key: str  # the step plus its round: unique within the flow run
    site_id: int
    assignee_id: int | None = None
    candidate_role: str | None = None
    owner_of_record_id: int | None = None
    due_at: datetime | None = None
    available_from: datetime | None = None
    context: dict[str, Any] | None = None
    # The SLA ladder ("complaint/*/urgent") whose step target sets the due time, and since when
    # its clock runs (default: when the task opens).
    sla_ladder: str | None = None
    sla_started_at: datetime | None = None

    def __post_init__(self) -> None:
        if not STEP_KEY.fullmatch(self.key):
            raise ValueError(f"step key {self.key!r}: use lowercase letters, digits and dashes")
        if self.assignee_id is None and self.candidate_role is None:
            raise ValueError("a human step needs an assignee or a candidate role")
