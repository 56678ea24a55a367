"""Forms of the onboarding process: HR's registration and each human step's decision."""

from datetime import date
from typing import Literal

from pydantic import Field

from domain.validation import VisibleText
from forms.complaint import StrictForm
from rules.onboarding import DISCIPLINE_MAX, THEORY_MAX

NOTES_MAX = 2000
# A discipline breach is recorded per occurrence; more than this in one day is a typo.
MAX_BREACHES_PER_DAY = 10


class NewHireCreate(StrictForm):
    """A new hire as HR registers them; the process starts at once."""

    name: VisibleText = Field(min_length=1, max_length=50, title="New hire's name")
    post: VisibleText = Field(min_length=1, max_length=50, title="Post")
    start_date: date = Field(title="Start date")
    trainer_id: int = Field(ge=1, title="Trainer", description="Who delivers the training days")
    site_id: int | None = Field(
        default=None, ge=1, title="Site", description="Defaults to the site of the HR registering"
    )
    phone: str | None = Field(
        default=None, pattern=r"^\+?[0-9][0-9\- ]{4,30}$", max_length=32, title="Phone"
    )
    user_id: int | None = Field(
        default=None, ge=1, title="New hire's account", description="If they already have one"
    )
    cohort: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        title="Cohort",
        description="Defaults to the month of the start date, e.g. 2026-12",
    )


class MentorChoice(StrictForm):
    """The supervisor names a senior employee as the new hire's mentor (导师制)."""

    mentor_id: int = Field(ge=1, title="Mentor")
    note: str = Field(default="", max_length=NOTES_MAX, title="Note")


class TrainingDayReport(StrictForm):
    """The trainer confirms a training day was held and records any deductions."""

    notes: str = Field(default="", max_length=NOTES_MAX, title="Notes")
    unexcused_absence: bool = Field(default=False, title="Unexcused absence")
    discipline_breaches: int = Field(
        default=0, ge=0, le=MAX_BREACHES_PER_DAY, title="Discipline breaches"
    )
    feedback_form_missing: bool = Field(default=False, title="Feedback form not filled in")


class MentorShiftReport(TrainingDayReport):
    """The mentor confirms a trial shift with notes on how the new hire did."""

    notes: VisibleText = Field(min_length=1, max_length=NOTES_MAX, title="Mentor notes")


class ExamScore(StrictForm):
    """HR scores the exam: theory out of 90 plus training discipline out of 10."""

    theory: int = Field(ge=0, le=THEORY_MAX, title="Theory score")
    discipline: int = Field(ge=0, le=DISCIPLINE_MAX, title="Discipline score")
    note: str = Field(default="", max_length=NOTES_MAX, title="Note")


class RetrainingReport(StrictForm):
    """The trainer confirms the individual retraining after a failed exam."""

    notes: VisibleText = Field(min_length=1, max_length=NOTES_MAX, title="What was retrained")


class DismissalDecision(StrictForm):
    """The site manager decides on a new hire who did not pass: dismiss, or one more chance."""

    decision: Literal["dismiss", "one_more_chance"] = Field(title="Decision")
    reason: VisibleText = Field(min_length=1, max_length=NOTES_MAX, title="Reason")


class TrainingRevision(StrictForm):
    """The trainer revises the training after the cohort missed its pass-rate target."""

    revision: VisibleText = Field(min_length=1, max_length=NOTES_MAX, title="Revised training plan")
