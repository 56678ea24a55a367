"""The rules of new-hire onboarding (domain.md §2) as plain data and functions.

The policy (pass mark, penalty ladder, variants, day plan, trainer targets) is a pydantic model
loaded from rules/onboarding.yaml and checked on load. A hire keeps the policy in force when they
were registered, so a change of configuration never rewrites a running onboarding.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rules.calendar import Clock, WorkingCalendar
from rules.config_errors import RuleConfigError, problems_from

BUNDLED_POLICY = Path(__file__).with_name("onboarding.yaml")

# The exam's parts are fixed by the rule book: theory out of 90 plus training discipline out of 10.
THEORY_MAX = 90
DISCIPLINE_MAX = 10
EXAM_MAX = THEORY_MAX + DISCIPLINE_MAX
# The seven-day plan; the variant puts the theory exam on the 10th working day.
STANDARD_EXAM_WORKING_DAY = 7
LATE_EXAM_WORKING_DAY = 10


class Deduction(StrEnum):
    """Why attendance points are taken off during training or after a failed exam."""

    UNEXCUSED_ABSENCE = "unexcused_absence"  # 无故缺勤
    DISCIPLINE_BREACH = "discipline_breach"  # 违反课堂纪律
    FEEDBACK_FORM_MISSING = "feedback_form_missing"  # 未填写培训反馈表
    EXAM_FAIL = "exam_fail"  # 考核不合格


class TrainingDayPlan(BaseModel):
    """One day of the training week: its number, what is taught, and whether the mentor leads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: int = Field(ge=1)
    topic: str = Field(min_length=1)  # English msgid
    with_mentor: bool = False


class FailRung(BaseModel):
    """What the n-th failed exam costs; the rung with a final deadline is the last chance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points: int = Field(le=0)
    final_deadline_working_days: int | None = Field(default=None, ge=1)


class Deductions(BaseModel):
    """Points taken off for conduct during training."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unexcused_absence: int = Field(default=-2, le=0)
    discipline_breach: int = Field(default=-1, le=0)
    feedback_form_missing: int = Field(default=-1, le=0)

    def points(self, reason: Deduction) -> int:
        """Return the points one occurrence of `reason` costs."""
        return int(getattr(self, reason.value))


DAY_1_TOPIC = (
    "Company and department introduction, how the department works, safety education, site tour"
)
DAY_2_TOPIC = (
    "Post duties, rewards and penalties, attendance rules, dress code, etiquette and polite"
    " language"
)


def _default_days() -> list[TrainingDayPlan]:
    return [
        TrainingDayPlan(day=1, topic=DAY_1_TOPIC),
        TrainingDayPlan(day=2, topic=DAY_2_TOPIC),
        TrainingDayPlan(day=3, topic="Standard operating procedures of the post (part 1)"),
        TrainingDayPlan(day=4, topic="Standard operating procedures of the post (part 2)"),
        TrainingDayPlan(day=5, topic="Trial shift alongside the mentor", with_mentor=True),
        TrainingDayPlan(day=6, topic="Trial shift alongside the mentor", with_mentor=True),
    ]


def _default_ladder() -> list[FailRung]:
    return [
        FailRung(points=-3),
        FailRung(points=-6),
        FailRung(points=-10, final_deadline_working_days=5),
    ]


class OnboardingPolicy(BaseModel):
    """The configurable rules of one onboarding; the defaults are the rule book's variant B."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: str = "day_shift"
    pass_mark: int = Field(default=60, ge=1, le=EXAM_MAX)
    exam_working_day: int = Field(default=STANDARD_EXAM_WORKING_DAY, ge=1)
    # Variant A: the first failed exam goes straight to the site manager's dismissal decision.
    strict: bool = False
    fail_ladder: list[FailRung] = Field(default_factory=_default_ladder)
    retraining_working_days: int = Field(default=2, ge=1)
    retake_within_working_days: int = Field(default=2, ge=1)
    deductions: Deductions = Field(default_factory=Deductions)
    trainer_targets: list[float] = Field(default_factory=lambda: [0.90, 0.95, 1.00], min_length=1)
    trainer_misses_before_disqualification: int = Field(default=3, ge=1)
    training_days: list[TrainingDayPlan] = Field(default_factory=_default_days, min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "OnboardingPolicy":
        numbers = [d.day for d in self.training_days]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"training_days: number the days 1, 2, 3, … in order, got {numbers}")
        if self.exam_working_day <= len(numbers):
            raise ValueError(
                f"exam_working_day: {self.exam_working_day} falls inside the {len(numbers)}"
                " training days; the exam comes after them"
            )
        for rung in self.fail_ladder[:-1]:
            if rung.final_deadline_working_days is not None:
                raise ValueError("fail_ladder: only the last rung may set a final deadline")
        targets = self.trainer_targets
        if any(not 0 < t <= 1 for t in targets) or targets != sorted(targets):
            raise ValueError("trainer_targets: rates in (0, 1], not decreasing by attempt")
        return self

    @property
    def mentor_days(self) -> list[int]:
        """Return the numbers of the days the mentor leads."""
        return [d.day for d in self.training_days if d.with_mentor]


def parse_policy(data: Mapping[str, Any]) -> OnboardingPolicy:
    """Return a policy validated from a dict, or raise RuleConfigError naming each bad field."""
    try:
        return OnboardingPolicy.model_validate(data)
    except ValidationError as error:
        raise RuleConfigError(problems_from(error, prefix="onboarding")) from error


def load_policy(path: Path | None = None) -> OnboardingPolicy:
    """Return the onboarding policy from a YAML file (the bundled one by default)."""
    return parse_policy(yaml.safe_load((path or BUNDLED_POLICY).read_text(encoding="utf-8")))


# --- the training week ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledDay:
    """One training day on the calendar: when its task opens and when it is due (UTC)."""

    day: int
    on: date
    topic: str
    with_mentor: bool
    available_from: datetime
    due_at: datetime


def day_window(calendar: WorkingCalendar, day: date) -> tuple[datetime, datetime]:
    """Return when service starts and ends on a working day (UTC)."""
    windows = calendar.service_windows(day, Clock.WORKING_DAYS)
    if not windows:
        raise ValueError(f"{day} is not a working day in {calendar.name}")
    return windows[0][0], windows[-1][1]


def training_schedule(
    policy: OnboardingPolicy, calendar: WorkingCalendar, start_date: date
) -> list[ScheduledDay]:
    """Return the training days, day N on the N-th working day from the start date."""
    schedule = []
    for plan in policy.training_days:
        on = calendar.nth_working_day(start_date, plan.day)
        opens, ends = day_window(calendar, on)
        schedule.append(ScheduledDay(plan.day, on, plan.topic, plan.with_mentor, opens, ends))
    return schedule


def exam_day(policy: OnboardingPolicy, calendar: WorkingCalendar, start_date: date) -> date:
    """Return the working day of the first exam (the 7th, or the 10th in the variant)."""
    return calendar.nth_working_day(start_date, policy.exam_working_day)


# --- the exam and its consequences ---------------------------------------------------------


def exam_total(theory: int, discipline: int) -> int:
    """Return the exam score: theory plus training discipline."""
    if not 0 <= theory <= THEORY_MAX or not 0 <= discipline <= DISCIPLINE_MAX:
        raise ValueError(f"scores out of range: theory {theory}, discipline {discipline}")
    return theory + discipline


def passes(policy: OnboardingPolicy, total: int) -> bool:
    """Return whether an exam total reaches the pass mark."""
    return total >= policy.pass_mark


class FailAction(StrEnum):
    """What follows a failed exam."""

    RETRAIN = "retrain"  # individual retraining in own time, then a retake
    FINAL_CHANCE = "final_chance"  # retraining and a retake by a final deadline
    DISMISSAL_DECISION = "dismissal_decision"  # the site manager decides


@dataclass(frozen=True)
class FailConsequence:
    """The points and the next step after the n-th failed exam."""

    points: int
    action: FailAction
    final_deadline_working_days: int | None = None


def fail_consequence(
    policy: OnboardingPolicy, fail_no: int, *, after_reprieve: bool = False
) -> FailConsequence:
    """Return what the `fail_no`-th failed exam costs and what comes next.

    After the site manager gave one more chance, the next fail goes back to the manager.
    """
    if fail_no < 1:
        raise ValueError(f"fail_no must be at least 1, got {fail_no}")
    if policy.strict or after_reprieve or fail_no > len(policy.fail_ladder):
        return FailConsequence(points=0, action=FailAction.DISMISSAL_DECISION)
    rung = policy.fail_ladder[fail_no - 1]
    if rung.final_deadline_working_days is not None:
        return FailConsequence(
            rung.points, FailAction.FINAL_CHANCE, rung.final_deadline_working_days
        )
    return FailConsequence(rung.points, FailAction.RETRAIN)


def final_deadline(calendar: WorkingCalendar, failed_at: datetime, working_days: int) -> datetime:
    """Return the final deadline (限期掌握): when service ends on the working_days-th working day
    after the day of the failed exam (or of the site manager's one more chance), UTC."""
    return calendar.add_working_days(failed_at, working_days)


# --- the trainer's pass rates --------------------------------------------------------------


class TargetStatus(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"  # some learner has no result for this attempt yet


@dataclass(frozen=True)
class LearnerResult:
    """One learner's exam history as the trainer's assessment sees it."""

    attempts_sat: int
    passed_at: int | None  # the attempt they passed, if any
    left: bool = False  # dismissed: no further attempts will come


@dataclass(frozen=True)
class AttemptRate:
    """The cohort's cumulative pass rate by one attempt, against its target."""

    attempt: int
    learners: int
    passed: int
    rate: float | None
    target: float
    status: TargetStatus


def _settled_by(learner: LearnerResult, attempt: int) -> bool:
    if learner.passed_at is not None and learner.passed_at <= attempt:
        return True
    return learner.attempts_sat >= attempt or learner.left


def cohort_pass_rates(
    learners: Sequence[LearnerResult], targets: Sequence[float]
) -> list[AttemptRate]:
    """Return, per attempt with a target, how many learners had passed by then, and the verdict.

    A rate is judged only when every learner has passed earlier, sat that attempt, or left.
    """
    rates = []
    for attempt, target in enumerate(targets, start=1):
        passed = sum(1 for x in learners if x.passed_at is not None and x.passed_at <= attempt)
        rate = passed / len(learners) if learners else None
        if not learners or not all(_settled_by(x, attempt) for x in learners):
            status = TargetStatus.PENDING
        else:
            status = TargetStatus.MET if passed / len(learners) >= target else TargetStatus.MISSED
        rates.append(AttemptRate(attempt, len(learners), passed, rate, target, status))
    return rates
