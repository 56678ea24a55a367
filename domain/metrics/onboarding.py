"""The onboarding figures: the pass rates of the new hires whose first exam fell in the period,
by exam attempt against the trainers' targets, and by trainer and mentor."""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pydantic import computed_field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from db.models import Event, Process
from domain.events import EventKind
from domain.metrics.figures import Figure, share
from domain.metrics.measures import Measure, filter_number
from domain.metrics.periods import Period, Window
from domain.metrics.queries import user_names
from domain.onboarding import current_policy

# The exam attempts the pass rates are reported for (domain.md §2: 1st, 2nd and 3rd fail).
REPORTED_ATTEMPTS = 3


class AttemptPassRate(Figure):
    """The cohort's cumulative pass rate by one exam attempt, against the trainer target."""

    key: str  # "attempt:1"
    attempt: int
    learners: int
    sat: int  # learners who sat this attempt
    passed: int  # learners who had passed by this attempt
    target: float | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """Return the share of the cohort that had passed by this attempt."""
        return share(self.passed, self.learners)


class PersonPassRate(Figure):
    """One trainer's or mentor's learners: passed at the first attempt, passed by now."""

    key: str  # "trainer:5" | "mentor:7" | "mentor:" for learners without a mentor
    user_id: int | None
    name: str | None
    learners: int
    passed_first: int
    passed: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def first_rate(self) -> float | None:
        """Return the share who passed the first exam."""
        return share(self.passed_first, self.learners)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """Return the share who have passed."""
        return share(self.passed, self.learners)


class OnboardingFigures(Figure):
    """New hires whose first exam was scored in the period, and how they fared since."""

    learners: int
    by_attempt: list[AttemptPassRate]
    by_trainer: list[PersonPassRate]
    by_mentor: list[PersonPassRate]


@dataclass(frozen=True)
class _Learner:
    """A new hire of the cohort: trainer, mentor, attempts sat and the attempt they passed."""

    process_id: str
    trainer_id: int | None
    mentor_id: int | None
    sat: int
    passed_at: int | None


def _learners(session: Session, window: Window) -> list[_Learner]:
    """Return the hires whose first exam was scored in the window, rebuilt from their events."""
    first = aliased(Event, name="first_exam")
    cohort = (
        select(first.process_id)
        .join(Process, Process.id == first.process_id)
        .where(
            first.kind == EventKind.EXAM_SCORED,
            first.at >= window.start,
            first.at < window.as_of,
            Process.site_id.in_(window.site_ids),
            first.data["attempt"].as_integer() == 1,
        )
    )
    exam = aliased(Event, name="exam")
    attempt = exam.data["attempt"].as_integer()
    rows = session.execute(
        select(
            exam.process_id,
            func.max(exam.data["trainer_id"].as_integer()),
            func.max(attempt),
            func.min(case((exam.data["passed"].as_boolean(), attempt))),
        )
        .where(
            exam.process_id.in_(cohort), exam.kind == EventKind.EXAM_SCORED, exam.at < window.as_of
        )
        .group_by(exam.process_id)
    ).all()
    assignment = aliased(Event, name="assignment")
    mentors: dict[str, int | None] = {}
    # Ordered by time: a mentor chosen again later replaces the first choice.
    for process_id, mentor_id in session.execute(
        select(assignment.process_id, assignment.data["mentor_id"].as_integer())
        .where(
            assignment.process_id.in_(cohort),
            assignment.kind == EventKind.MENTOR_ASSIGNED,
            assignment.at < window.as_of,
        )
        .order_by(assignment.at, assignment.id)
    ):
        mentors[process_id] = mentor_id
    return [
        _Learner(process_id, trainer_id, mentors.get(process_id), sat, passed_at)
        for process_id, trainer_id, sat, passed_at in rows
    ]


def _passed_by(learner: _Learner, attempt: int) -> bool:
    return learner.passed_at is not None and learner.passed_at <= attempt


def _person_rates(
    prefix: str, groups: Mapping[int | None, list[_Learner]], names: Mapping[int, str]
) -> list[PersonPassRate]:
    return [
        PersonPassRate(
            key=f"{prefix}:{person_id if person_id is not None else ''}",
            user_id=person_id,
            name=names.get(person_id) if person_id is not None else None,
            learners=len(learners),
            passed_first=sum(_passed_by(x, 1) for x in learners),
            passed=sum(x.passed_at is not None for x in learners),
        )
        for person_id, learners in sorted(
            groups.items(),
            key=lambda item: (item[0] is None, names.get(item[0] or 0, ""), item[0] or 0),
        )
    ]


@cache
def _trainer_targets() -> tuple[float, ...]:
    """Return the trainers' pass-rate targets by attempt, read once per process."""
    # As with the SLA ladders: parsing the policy file each time costs more than the figures.
    return tuple(current_policy().trainer_targets)


def onboarding_figures(
    session: Session, site_id: int, period: Period, now: datetime
) -> OnboardingFigures:
    """Return the pass rates of the hires whose first exam fell in the period."""
    learners = _learners(session, Window.of([site_id], period, now))
    targets = _trainer_targets()
    by_trainer: dict[int | None, list[_Learner]] = defaultdict(list)
    by_mentor: dict[int | None, list[_Learner]] = defaultdict(list)
    for learner in learners:
        by_trainer[learner.trainer_id].append(learner)
        by_mentor[learner.mentor_id].append(learner)
    names = user_names(session, {i for i in [*by_trainer, *by_mentor] if i is not None})
    return OnboardingFigures(
        learners=len(learners),
        by_attempt=[
            AttemptPassRate(
                key=f"attempt:{attempt}",
                attempt=attempt,
                learners=len(learners),
                sat=sum(x.sat >= attempt for x in learners),
                passed=sum(_passed_by(x, attempt) for x in learners),
                target=targets[attempt - 1] if attempt <= len(targets) else None,
            )
            for attempt in range(1, REPORTED_ATTEMPTS + 1)
        ],
        by_trainer=_person_rates("trainer", by_trainer, names),
        by_mentor=_person_rates("mentor", by_mentor, names),
    )


# The onboarding figures whose ids `learner_ids` lists.
LEARNER_MEASURES = (Measure.LEARNERS, Measure.PASSED, Measure.PASSED_FIRST)


def learner_ids(
    session: Session, window: Window, measure: Measure, filters: Mapping[str, str]
) -> list[str]:
    """Return the ids of the cohort's hires behind a figure, by trainer, mentor and attempt."""
    learners = _learners(session, window)
    if "trainer" in filters:
        trainer_id = filter_number(filters, "trainer")
        learners = [x for x in learners if x.trainer_id == trainer_id]
    if "mentor" in filters:
        mentor_id = filter_number(filters, "mentor")
        learners = [x for x in learners if x.mentor_id == mentor_id]
    if measure is Measure.PASSED_FIRST:
        learners = [x for x in learners if _passed_by(x, 1)]
    elif measure is Measure.PASSED:
        attempt = filter_number(filters, "attempt") if "attempt" in filters else None
        learners = [
            x
            for x in learners
            if (x.passed_at is not None if attempt is None else _passed_by(x, attempt))
        ]
    return sorted(x.process_id for x in learners)
