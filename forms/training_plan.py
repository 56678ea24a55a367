"""Forms of the training plan: starting a plan, the plan document, and each step's decision.

The plan document is lenient on purpose: a draft may be incomplete while it is worked on, and
rules.training_plan.plan_problems names every gap at once when it is submitted.
"""

from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from db.models import Role
from domain.validation import VisibleText, field_error
from forms.complaint import StrictForm
from rules.training_plan import Cadence, PlanKind

TEXT_MAX = 2000
TOPIC_MAX = 200
MAX_ITEMS = 100
MAX_SESSIONS_PER_ITEM = 60
MAX_BUDGET_LINES = 50
MAX_ATTENDEES = 500
MAX_SCORE = 100
MAX_SESSION_HOURS = 12
MONEY_DIGITS = 12


class TrainingMethod(StrEnum):
    LECTURE = "lecture"  # 面授讲解
    PRACTICE = "practice"  # 实操演练
    DRILL = "drill"  # 现场演习
    CASE_STUDY = "case_study"  # 案例分析
    ONLINE = "online"  # 线上学习


class BudgetCategory(StrEnum):
    TRAINER = "trainer"  # 讲师
    VENUE = "venue"  # 场地
    MATERIALS = "materials"  # 教材/物料
    OTHER = "other"  # 其他费用


class AttendanceStatus(StrEnum):
    PRESENT = "present"  # 出席
    EXCUSED = "excused"  # 请假
    UNEXCUSED = "unexcused"  # 缺勤


class TrainingPlanCreate(StrictForm):
    """Which plan to draft: the annual plan of a year, or the monthly plan of a month."""

    kind: PlanKind = Field(title="Kind of plan")
    year: int = Field(ge=2000, le=2100, title="Year")
    month: int | None = Field(default=None, ge=1, le=12, title="Month")

    @model_validator(mode="after")
    def _month_for_monthly(self) -> Self:
        if self.kind is PlanKind.MONTHLY and self.month is None:
            raise ValueError("month: A monthly plan needs its month")
        if self.kind is PlanKind.ANNUAL and self.month is not None:
            raise ValueError("month: An annual plan covers the whole year; leave the month empty")
        return self


class SessionDraft(StrictForm):
    """One dated session of a one-off training item."""

    starts_at: datetime | None = Field(default=None, title="Starts at")
    venue: str = Field(default="", max_length=TOPIC_MAX, title="Venue")

    @field_validator("starts_at")
    @classmethod
    def _with_time_zone(cls, starts_at: datetime | None) -> datetime | None:
        # A time without a zone means different moments to different readers. The web form
        # reads its datetime-local field in the site's zone before validating (it knows the
        # site); an API caller, whose zone we cannot know, must say it.
        if starts_at is not None and starts_at.utcoffset() is None:
            raise field_error("datetime_without_zone")
        return starts_at


class PlanItemDraft(StrictForm):
    """One training item: what, for whom, by whom, when, how long, how, and how it is assessed."""

    topic: str = Field(default="", max_length=TOPIC_MAX, title="Training topic")
    attendee_ids: list[int] = Field(
        default_factory=list, max_length=MAX_ATTENDEES, title="Attendees"
    )
    attendee_roles: list[Role] = Field(
        default_factory=list, title="Attending roles", description="Everyone at the site with it"
    )
    trainer_id: int | None = Field(default=None, title="Trainer")
    method: TrainingMethod | None = Field(default=None, title="Method")
    hours: float | None = Field(default=None, gt=0, le=MAX_SESSION_HOURS, title="Hours")
    cadence: Cadence | None = Field(
        default=None, title="Frequency", description="Empty for a one-off item with listed sessions"
    )
    recurring_key: str | None = Field(
        default=None,
        max_length=64,
        title="Recurring training",
        description="The in-post training of the rule book this item carries out",
    )
    session_time: time | None = Field(
        default=None, title="Time of day", description="For a recurring item"
    )
    venue: str = Field(default="", max_length=TOPIC_MAX, title="Venue")
    sessions: list[SessionDraft] = Field(
        default_factory=list, max_length=MAX_SESSIONS_PER_ITEM, title="Sessions"
    )
    assessment_criteria: str = Field(default="", max_length=TEXT_MAX, title="Assessment criteria")


class BudgetLine(StrictForm):
    """One line of the plan's budget."""

    category: BudgetCategory = Field(title="Category")
    description: str = Field(default="", max_length=TOPIC_MAX, title="Budget purpose")
    amount: Decimal | None = Field(
        default=None, ge=0, max_digits=MONEY_DIGITS, decimal_places=2, title="Amount (CNY)"
    )


class PlanDocument(StrictForm):
    """The training plan as the supervisor drafts it; submitting it asks for approval."""

    title: str = Field(default="", max_length=TOPIC_MAX, title="Title")
    compliance_confirmed: bool = Field(
        default=False,
        title="Complies with laws and regulations",
        description="I confirm the plan meets the legal and regulatory training requirements",
    )
    compliance_note: str = Field(default="", max_length=TEXT_MAX, title="Compliance note")
    items: list[PlanItemDraft] = Field(
        default_factory=list, max_length=MAX_ITEMS, title="Training items"
    )
    budget: list[BudgetLine] = Field(
        default_factory=list, max_length=MAX_BUDGET_LINES, title="Budget"
    )
    note: str = Field(default="", max_length=TEXT_MAX, title="Note to the approver")


class PlanDecision(StrictForm):
    """The site manager's decision on a submitted plan; a rejection says why."""

    outcome: Literal["approve", "reject"] = Field(title="Approval decision")
    reason: str = Field(default="", max_length=TEXT_MAX, title="Reason")

    @model_validator(mode="after")
    def _rejection_has_reason(self) -> Self:
        if self.outcome == "reject" and not self.reason:
            raise ValueError("reason: A rejection needs a reason")
        return self


class AttendanceEntry(StrictForm):
    """Whether one attendee was at the session."""

    employee_id: int = Field(title="Employee")
    status: AttendanceStatus = Field(title="Attendance")
    note: str = Field(default="", max_length=TOPIC_MAX, title="Note")


class AttendanceDecision(StrictForm):
    """The trainer's record of one session: held or not, and who attended (培训记录表)."""

    held: bool = Field(title="The session took place")
    attendance: list[AttendanceEntry] = Field(
        default_factory=list, max_length=MAX_ATTENDEES, title="Attendance"
    )
    summary: str = Field(default="", max_length=TEXT_MAX, title="Session summary")

    @model_validator(mode="after")
    def _held_or_why_not(self) -> Self:
        if self.held and not self.attendance:
            raise ValueError("attendance: Record the attendance of the session")
        if not self.held and not self.summary:
            raise ValueError("summary: Say why the session did not take place")
        return self

    @field_validator("attendance")
    @classmethod
    def _once_each(cls, entries: list[AttendanceEntry]) -> list[AttendanceEntry]:
        ids = [e.employee_id for e in entries]
        if len(ids) != len(set(ids)):
            raise ValueError("Record each attendee once")
        return entries


class AssessmentScore(StrictForm):
    """One employee's assessment: a written and a practical score."""

    employee_id: int = Field(title="Employee")
    written: int = Field(ge=0, le=MAX_SCORE, title="Written score")
    practical: int = Field(ge=0, le=MAX_SCORE, title="Practical score")
    note: str = Field(default="", max_length=TOPIC_MAX, title="Note")


class AssessmentDecision(StrictForm):
    """The supervisor's assessment after the plan's period (written + practical)."""

    assessed_on: date = Field(title="Assessed on")
    scores: list[AssessmentScore] = Field(min_length=1, max_length=MAX_ATTENDEES, title="Scores")

    @field_validator("scores")
    @classmethod
    def _once_each(cls, scores: list[AssessmentScore]) -> list[AssessmentScore]:
        ids = [s.employee_id for s in scores]
        if len(ids) != len(set(ids)):
            raise ValueError("Score each employee once")
        return scores


class AnalysisDecision(StrictForm):
    """The supervisor's analysis of the results, and whether the plan needs revising."""

    findings: VisibleText = Field(min_length=1, max_length=TEXT_MAX, title="Findings")
    actions: str = Field(default="", max_length=TEXT_MAX, title="Improvement actions")
    revise_plan: bool = Field(default=False, title="Revise the plan")
    revision_reason: str = Field(default="", max_length=TEXT_MAX, title="Why revise")

    @model_validator(mode="after")
    def _revision_has_reason(self) -> Self:
        if self.revise_plan and not self.revision_reason:
            raise ValueError("revision_reason: Say why the plan needs revising")
        return self
