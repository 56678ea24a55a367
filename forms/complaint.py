"""Forms of the complaint process: the intake and each human step's decision."""

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from db.models.complaint import Category, Channel, Urgency
from domain.validation import VisibleText

# A rating at or below this reopens the case (domain.md §3: a poor rating reopens it).
POOR_RATING_MAX = 2
Department = Literal["engineering", "security", "cleaning", "greening"]


class StrictForm(BaseModel):
    """A form that refuses unknown fields, so a typo is an error rather than silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ComplaintCreate(StrictForm):
    """A resident's complaint as the first responder records it."""

    resident_name: VisibleText = Field(min_length=1, max_length=50, title="Resident name")
    unit: VisibleText = Field(min_length=1, max_length=50, title="Household / unit")
    contact_phone: str = Field(
        pattern=r"^\+?[0-9][0-9\- ]{4,30}$", max_length=32, title="Contact phone"
    )
    channel: Channel = Field(title="Channel")
    category: Category = Field(title="Category")
    urgency: Urgency = Field(title="Urgency")
    description: VisibleText = Field(min_length=1, max_length=4000, title="Description")


class FirstResponseDecision(StrictForm):
    """The first responder has contacted the resident and acknowledged the case."""

    response_note: VisibleText = Field(
        min_length=1,
        max_length=2000,
        title="Response note",
        description="What the resident was told",
    )


class ResolutionDecision(StrictForm):
    """The owner either resolves the case or dispatches it to another department."""

    outcome: Literal["resolved", "dispatch"] = Field(title="Outcome")
    summary: VisibleText = Field(min_length=1, max_length=2000, title="Summary")
    department: Department | None = Field(default=None, title="Department")

    @model_validator(mode="after")
    def _department_matches_outcome(self) -> Self:
        if self.outcome == "dispatch" and self.department is None:
            raise ValueError("department: Choose the department to dispatch to")
        if self.outcome == "resolved" and self.department is not None:
            raise ValueError("department: Only a dispatch names a department")
        return self


class DepartmentWorkDecision(StrictForm):
    """The department reports the work it did on site."""

    work_done: VisibleText = Field(min_length=1, max_length=2000, title="Work done")


class ReturnVisitDecision(StrictForm):
    """The resident's satisfaction after resolution (回访)."""

    satisfaction: int = Field(ge=1, le=5, title="Satisfaction")
    comment: str = Field(default="", max_length=2000, title="Comment")

    @property
    def is_poor(self) -> bool:
        """Return whether the rating reopens the case."""
        return self.satisfaction <= POOR_RATING_MAX
