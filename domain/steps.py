"""The declaration of a human step: its persisted name, title, form, deadline rule and who
may decide it."""

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from db.models import Role

F = TypeVar("F", bound=BaseModel)
# Prefect stores a pause's input under its key and accepts only this alphabet.
STEP_KEY = re.compile(r"[a-z0-9-]+")


class Party(StrEnum):
    """Someone a case is about or who wrote what is decided, named by their part in the case."""

    DRAFTER = "drafter"  # wrote a version of the training plan
    LEAVER = "leaver"  # the resigning employee
    SUCCESSOR = "successor"  # takes over the leaver's work
    NEW_HIRE = "new_hire"  # the hire being onboarded, once they have an account


@dataclass(frozen=True)
class HumanStep(Generic[F]):
    """A step that waits for a person. `name` is persisted: renaming it is a migration.

    The person the flow names may decide it, and so may anyone at the site holding one of
    `decided_by` (or the role of the queue the task waits in); only they may be handed it.
    Nobody in `not_by` may ever decide it, whoever holds the task.
    """

    name: str
    title: str  # English msgid; shown translated
    form: type[F]
    # Which SLA target of the process's ladder sets the due time ("first_response", ...).
    sla_target: str | None = None
    # A manager's decision on someone else's work: listed in the managers' approvals queue.
    approval: bool = False
    decided_by: tuple[Role, ...] = field(kw_only=True)
    not_by: tuple[Party, ...] = field(default=(), kw_only=True)


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
