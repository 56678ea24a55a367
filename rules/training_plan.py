"""The training plan's rules: deadlines on the working calendar, recurring cadences, fitness.

Deadlines (domain.md §1): the annual plan is drafted by December 10 (or 15) and approved by
December 20 of the year before; a monthly plan is drafted by the 25th of the month before and
approved by its 30th (its last day when the month is shorter). A deadline on a rest day moves to a
working day as the policy says. The assessment falls within the first working days of the month
after the plan's period; recurring in-post training expands into sessions on working days.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.errors import FieldProblem
from rules.calendar import Clock, WorkingCalendar, load_calendars
from rules.config_errors import RuleConfigError, problems_from

if TYPE_CHECKING:
    from forms.training_plan import PlanDocument

BUNDLED_POLICY = Path(__file__).with_name("training_plan.yaml")
ONE_DAY = timedelta(days=1)
DECEMBER = 12
MONTHS_PER_YEAR = 12
DAYS_PER_WEEK = 7
# Two-week blocks are counted from this Monday, so every monthly plan cuts them the same way.
BLOCK_EPOCH = date(2024, 1, 1)
# How far a deadline may move to find a working day before the calendar is deemed broken.
MAX_SHIFT_DAYS = 31


class PlanKind(StrEnum):
    ANNUAL = "annual"  # 年度计划
    MONTHLY = "monthly"  # 月度计划


class Cadence(StrEnum):
    """How often a recurring in-post training item is held."""

    WEEKLY = "weekly"  # 每周
    THRICE_PER_TWO_WEEKS = "thrice_per_two_weeks"  # 每两周三次
    MONTHLY = "monthly"  # 每月
    BIMONTHLY = "bimonthly"  # 每两月
    QUARTERLY = "quarterly"  # 每季度
    HALF_YEARLY = "half_yearly"  # 每半年
    YEARLY = "yearly"  # 每年


@dataclass(frozen=True)
class CadenceBlock:
    """A cadence as `count` sessions in each block of `length` weeks or months."""

    unit: Literal["weeks", "months"]
    length: int
    count: int


CADENCE_BLOCKS: dict[Cadence, CadenceBlock] = {
    Cadence.WEEKLY: CadenceBlock("weeks", 1, 1),
    Cadence.THRICE_PER_TWO_WEEKS: CadenceBlock("weeks", 2, 3),
    Cadence.MONTHLY: CadenceBlock("months", 1, 1),
    Cadence.BIMONTHLY: CadenceBlock("months", 2, 1),
    Cadence.QUARTERLY: CadenceBlock("months", 3, 1),
    Cadence.HALF_YEARLY: CadenceBlock("months", 6, 1),
    Cadence.YEARLY: CadenceBlock("months", 12, 1),
}


class MonthDay(BaseModel):
    """A day of a month, e.g. December 10."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)


class AnnualDeadlines(BaseModel):
    """When the annual plan is drafted and approved, in the December before its year."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    draft_by: MonthDay = MonthDay(month=DECEMBER, day=10)
    approve_by: MonthDay = MonthDay(month=DECEMBER, day=20)
    opens_working_days_before: int = Field(default=10, ge=1)


class MonthlyDeadlines(BaseModel):
    """When a monthly plan is drafted and approved, as days of the month before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    draft_by_day: int = Field(default=25, ge=1, le=31)
    approve_by_day: int = Field(default=30, ge=1, le=31)
    opens_working_days_before: int = Field(default=5, ge=1)


class RecurringTraining(BaseModel):
    """One recurring in-post training of the sources, with its cadence and minimum length."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9-]+$")
    topic: str = Field(min_length=1)
    cadence: Cadence
    min_hours: float | None = Field(default=None, gt=0)


class TrainingPlanPolicy(BaseModel):
    """The training plan's timetable and recurring training; defaults are the reviewed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: str = "day_shift"
    deadline_on_rest_day: Literal["earlier", "later"] = "earlier"
    annual: AnnualDeadlines = AnnualDeadlines()
    monthly: MonthlyDeadlines = MonthlyDeadlines()
    assessment_working_days: int = Field(default=5, ge=1)
    analysis_working_days: int = Field(default=5, ge=1)
    revision_working_days: int = Field(default=2, ge=1)
    pass_mark: int = Field(default=60, ge=0, le=100)
    retention_years: int = Field(default=3, ge=3)
    cadences: list[RecurringTraining] = Field(default_factory=list)

    @model_validator(mode="after")
    def _drafted_before_approved(self) -> TrainingPlanPolicy:
        annual = self.annual
        if (annual.draft_by.month, annual.draft_by.day) > (
            annual.approve_by.month,
            annual.approve_by.day,
        ):
            raise ValueError("annual.draft_by: the draft is due before the approval")
        if self.monthly.draft_by_day > self.monthly.approve_by_day:
            raise ValueError("monthly.draft_by_day: the draft is due before the approval")
        return self

    def recurring(self, key: str) -> RecurringTraining | None:
        """Return the recurring training with `key`, if the policy lists it."""
        return next((c for c in self.cadences if c.key == key), None)


@lru_cache
def load_policy(path: Path | None = None) -> TrainingPlanPolicy:
    """Return the training plan policy from YAML (the bundled file by default), validated."""
    document = yaml.safe_load((path or BUNDLED_POLICY).read_text(encoding="utf-8")) or {}
    try:
        policy = TrainingPlanPolicy.model_validate(document)
    except ValidationError as error:
        raise RuleConfigError(problems_from(error, "training_plan")) from error
    if policy.calendar not in load_calendars():
        raise RuleConfigError([f"training_plan.calendar: unknown calendar {policy.calendar!r}"])
    return policy


def policy_calendar(policy: TrainingPlanPolicy) -> WorkingCalendar:
    """Return the working calendar the plan's deadlines run on."""
    return load_calendars()[policy.calendar]


# --- periods and deadlines -----------------------------------------------------------------


@dataclass(frozen=True)
class PlanPeriod:
    """The days a plan covers, both included."""

    kind: PlanKind
    starts_on: date
    ends_on: date

    def __contains__(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    @property
    def label(self) -> str:
        """Return the period as people name it: "2027" or "2027-02"."""
        if self.kind is PlanKind.ANNUAL:
            return str(self.starts_on.year)
        return self.starts_on.strftime("%Y-%m")


@dataclass(frozen=True)
class PlanDeadlines:
    """When drafting opens and when the draft and the approval are due (working days)."""

    opens_on: date
    draft_due_on: date
    approval_due_on: date


def _last_day(year: int, month: int) -> int:
    return gregorian.monthrange(year, month)[1]


def _month_before(day: date) -> tuple[int, int]:
    return (day.year - 1, DECEMBER) if day.month == 1 else (day.year, day.month - 1)


def _month_after(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == DECEMBER else date(day.year, day.month + 1, 1)


def plan_period(kind: PlanKind, year: int, month: int | None = None) -> PlanPeriod:
    """Return the period of the annual plan of `year` or the monthly plan of `year`-`month`."""
    if kind is PlanKind.ANNUAL:
        return PlanPeriod(kind, date(year, 1, 1), date(year, DECEMBER, 31))
    if month is None:
        raise ValueError("a monthly plan needs its month")
    return PlanPeriod(kind, date(year, month, 1), date(year, month, _last_day(year, month)))


def next_period(kind: PlanKind, today: date) -> PlanPeriod:
    """Return the period whose plan is being prepared on `today`: next month, or next year."""
    if kind is PlanKind.ANNUAL:
        return plan_period(kind, today.year + 1)
    following = _month_after(today)
    return plan_period(kind, following.year, following.month)


def on_working_day(calendar: WorkingCalendar, day: date, rule: Literal["earlier", "later"]) -> date:
    """Return `day` if it is a working day, else the working day before or after it."""
    step = -ONE_DAY if rule == "earlier" else ONE_DAY
    moved = day
    for _ in range(MAX_SHIFT_DAYS):
        if calendar.is_working_day(moved):
            return moved
        moved += step
    raise RuleConfigError([f"{calendar.name}: no working day within {MAX_SHIFT_DAYS} of {day}"])


def working_days_before(calendar: WorkingCalendar, day: date, n: int) -> date:
    """Return the working day `n` working days before `day` (n = 0: `day` itself)."""
    moved, left = day, n
    for _ in range(MAX_SHIFT_DAYS * max(n, 1)):
        if left == 0:
            return moved
        moved -= ONE_DAY
        if calendar.is_working_day(moved):
            left -= 1
    raise RuleConfigError([f"{calendar.name}: not {n} working days before {day}"])


def nominal_deadlines(policy: TrainingPlanPolicy, period: PlanPeriod) -> tuple[date, date]:
    """Return the draft and approval deadlines as the rule book states them (any weekday)."""
    if period.kind is PlanKind.ANNUAL:
        year = period.starts_on.year - 1
        draft, approve = policy.annual.draft_by, policy.annual.approve_by
        return (
            date(year, draft.month, min(draft.day, _last_day(year, draft.month))),
            date(year, approve.month, min(approve.day, _last_day(year, approve.month))),
        )
    year, month = _month_before(period.starts_on)
    last = _last_day(year, month)
    return (
        date(year, month, min(policy.monthly.draft_by_day, last)),
        date(year, month, min(policy.monthly.approve_by_day, last)),
    )


def plan_deadlines(
    policy: TrainingPlanPolicy, calendar: WorkingCalendar, period: PlanPeriod
) -> PlanDeadlines:
    """Return when drafting opens and the draft and approval are due, on working days."""
    draft, approve = nominal_deadlines(policy, period)
    draft_due = on_working_day(calendar, draft, policy.deadline_on_rest_day)
    approval_due = on_working_day(calendar, approve, policy.deadline_on_rest_day)
    lead = (
        policy.annual.opens_working_days_before
        if period.kind is PlanKind.ANNUAL
        else policy.monthly.opens_working_days_before
    )
    return PlanDeadlines(
        opens_on=working_days_before(calendar, draft_due, lead),
        draft_due_on=draft_due,
        approval_due_on=max(approval_due, draft_due),
    )


def assessment_window(
    policy: TrainingPlanPolicy, calendar: WorkingCalendar, period: PlanPeriod
) -> tuple[date, date]:
    """Return the first working day after the period and the last day the assessment may be."""
    first = calendar.nth_working_day(period.ends_on + ONE_DAY, 1)
    return first, calendar.nth_working_day(first, policy.assessment_working_days)


def working_days_after(calendar: WorkingCalendar, day: date, n: int) -> date:
    """Return the n-th working day after `day`."""
    return calendar.nth_working_day(day + ONE_DAY, n)


def start_of_service(calendar: WorkingCalendar, day: date) -> datetime:
    """Return when service starts on a working day (UTC)."""
    return calendar.service_windows(day, Clock.WORKING_DAYS)[0][0]


def clock_start(calendar: WorkingCalendar, due_on: date, lead_working_days: int) -> datetime:
    """Return when an SLA clock of `lead_working_days` starts so that it is due on `due_on`.

    The ladders count working days to the end of service of the n-th working day after the start
    day, so a clock started that many working days earlier ends exactly at the deadline.
    """
    return start_of_service(calendar, working_days_before(calendar, due_on, lead_working_days))


# --- recurring training --------------------------------------------------------------------


def _blocks(block: CadenceBlock, starts_on: date, ends_on: date) -> list[tuple[date, date]]:
    """Return the cadence's blocks that touch the days from starts_on to ends_on."""
    blocks = []
    if block.unit == "weeks":
        span = timedelta(weeks=block.length)
        first = BLOCK_EPOCH + span * ((starts_on - BLOCK_EPOCH) // span)
        while first <= ends_on:
            blocks.append((first, first + span - ONE_DAY))
            first += span
        return blocks
    index = (starts_on.year * MONTHS_PER_YEAR + starts_on.month - 1) // block.length * block.length
    while True:
        year, month0 = divmod(index, MONTHS_PER_YEAR)
        first = date(year, month0 + 1, 1)
        if first > ends_on:
            return blocks
        end_year, end_month0 = divmod(index + block.length - 1, MONTHS_PER_YEAR)
        blocks.append((first, date(end_year, end_month0 + 1, _last_day(end_year, end_month0 + 1))))
        index += block.length


def expand_cadence(
    calendar: WorkingCalendar, cadence: Cadence, starts_on: date, ends_on: date
) -> list[date]:
    """Return the session days of a cadence from starts_on to ends_on, all working days.

    Each block (a week, two weeks, a month, …, counted the same way for every plan) gets its
    sessions spread evenly over the block's working days; only those inside the period are
    returned, so consecutive monthly plans neither repeat nor drop a quarterly session.
    """
    block = CADENCE_BLOCKS[cadence]
    days: list[date] = []
    for first, last in _blocks(block, starts_on, ends_on):
        working = [
            first + ONE_DAY * n
            for n in range((last - first).days + 1)
            if calendar.is_working_day(first + ONE_DAY * n)
        ]
        count = min(block.count, len(working))
        chosen = [working[i * len(working) // block.count] for i in range(count)]
        days += [day for day in chosen if starts_on <= day <= ends_on]
    return days


def session_moments(calendar: WorkingCalendar, days: Sequence[date], at: time) -> list[datetime]:
    """Return the session start times: each day at the site's wall-clock time `at` (UTC)."""
    return [datetime.combine(day, at, tzinfo=calendar.zone) for day in days]


# --- fitness to submit ---------------------------------------------------------------------


def plan_problems(
    document: PlanDocument, period: PlanPeriod, policy: TrainingPlanPolicy, zone: tzinfo
) -> list[FieldProblem]:
    """Return every reason the plan is not fit to submit, each at its field path (English msgids).

    `zone` is the site's time zone: a session's date is its local date.
    """
    problems: list[FieldProblem] = []

    def problem(loc: tuple[str | int, ...], message: str, **params: object) -> None:
        problems.append(FieldProblem(loc, message, dict(params)))

    if not document.compliance_confirmed:
        problem(
            ("compliance_confirmed",),
            "Confirm that the plan complies with the laws and regulations",
        )
    if not document.items:
        problem(("items",), "A plan needs at least one training item")
    for i, item in enumerate(document.items):
        at = ("items", i)
        if not item.topic:
            problem((*at, "topic"), "Give the topic of the training")
        if not item.attendee_ids and not item.attendee_roles:
            problem((*at, "attendee_ids"), "The scope is empty: name who attends")
        if item.trainer_id is None:
            problem((*at, "trainer_id"), "Name the trainer")
        if item.method is None:
            problem((*at, "method"), "Choose the training method")
        if item.hours is None:
            problem((*at, "hours"), "Give the hours of each session")
        recurring = policy.recurring(item.recurring_key) if item.recurring_key else None
        if item.recurring_key and recurring is None:
            problem((*at, "recurring_key"), "No recurring training {key}", key=item.recurring_key)
        if recurring and recurring.min_hours and item.hours and item.hours < recurring.min_hours:
            problem(
                (*at, "hours"),
                "{topic} takes at least {min_hours} hours",
                topic=recurring.topic,
                min_hours=f"{recurring.min_hours:g}",
            )
        if not item.assessment_criteria:
            problem((*at, "assessment_criteria"), "Give the assessment criteria")
        if item.cadence is None and not item.sessions:
            problem((*at, "sessions"), "A one-off item needs its sessions with dates and times")
        if item.cadence is not None and item.session_time is None:
            problem((*at, "session_time"), "A recurring item needs the time of day of its sessions")
        for j, training_session in enumerate(item.sessions):
            where = (*at, "sessions", j, "starts_at")
            if training_session.starts_at is None:
                problem(where, "A session needs a date and a time")
                continue
            day = training_session.starts_at.astimezone(zone).date()
            if day not in period:
                problem(
                    where,
                    "The session on {day} is outside the plan's period {starts_on} to {ends_on}",
                    day=day.isoformat(),
                    starts_on=period.starts_on.isoformat(),
                    ends_on=period.ends_on.isoformat(),
                )
    if not document.budget:
        problem(("budget",), "A plan needs a budget: trainer, venue, materials and money")
    for k, line in enumerate(document.budget):
        if not line.description:
            problem(("budget", k, "description"), "Say what the budget line is for")
        if line.amount is None:
            problem(("budget", k, "amount"), "A budget line needs an amount")
    return problems
