"""The training plans' figures: plans whose deadline fell in the period, submitted and approved
on time. The deadlines are calendar dates, set on the site's version of the plan calendar."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from db.models import Event, Process
from domain.calendars import site_calendars
from domain.events import EventKind
from domain.metrics.figures import (
    ACCEPTANCE_PENDING,
    ACCEPTED_LATE,
    ACCEPTED_ON_TIME,
    Figure,
    Timeliness,
)
from domain.metrics.measures import Measure
from domain.metrics.periods import ONE_DAY, Period, Window
from rules.calendar import WorkingCalendar
from rules.training_plan import load_policy as load_plan_policy


class PlanTimeliness(Figure):
    """Training plans whose deadline fell in the period: submitted and approved on time."""

    submission: Timeliness
    approval: Timeliness


@dataclass(frozen=True)
class _PlanDeadlines:
    """One plan: its deadlines (as instants) and when it was first submitted and approved."""

    process_id: str
    draft_due: datetime
    approval_due: datetime
    submitted_at: datetime | None
    approved_at: datetime | None


def _deadline_instant(day: date, calendar: WorkingCalendar) -> datetime:
    """Return when a plan deadline of `day` passes: the end of service on the plan calendar."""
    if calendar.is_working_day(day):
        return calendar.end_of_service(day)
    # The rules move deadlines to working days; a calendar edited since ends it at midnight.
    return datetime.combine(day + ONE_DAY, time(), tzinfo=calendar.zone)


def _plans(session: Session, window: Window) -> list[_PlanDeadlines]:
    """Return the site's plans with their deadlines, rebuilt from their events (a few a year)."""
    started = aliased(Event, name="started")
    plans = session.execute(
        select(
            started.process_id,
            Process.site_id,
            started.data["draft_due_on"].as_string(),
            started.data["approval_due_on"].as_string(),
        )
        .join(Process, Process.id == started.process_id)
        .where(
            started.kind == EventKind.TRAINING_PLAN_STARTED,
            started.at < window.as_of,
            Process.site_id.in_(window.site_ids),
        )
    ).all()
    if not plans:
        return []
    milestone = aliased(Event, name="milestone")
    firsts = {
        (process_id, kind): at
        for process_id, kind, at in session.execute(
            select(milestone.process_id, milestone.kind, func.min(milestone.at))
            .where(
                milestone.process_id.in_([row[0] for row in plans]),
                milestone.kind.in_(
                    (EventKind.TRAINING_PLAN_SUBMITTED, EventKind.TRAINING_PLAN_APPROVED)
                ),
                milestone.at < window.as_of,
            )
            .group_by(milestone.process_id, milestone.kind)
        ).all()
    }
    plan_calendar = load_plan_policy().calendar
    deadlines = []
    for process_id, site_id, draft_due, approval_due in plans:
        # The site's own version of the plan calendar, as the plan's deadlines were set on it.
        calendar = site_calendars(session, site_id)[plan_calendar]
        deadlines.append(
            _PlanDeadlines(
                process_id=process_id,
                draft_due=_deadline_instant(date.fromisoformat(draft_due), calendar),
                approval_due=_deadline_instant(date.fromisoformat(approval_due), calendar),
                submitted_at=firsts.get((process_id, EventKind.TRAINING_PLAN_SUBMITTED)),
                approved_at=firsts.get((process_id, EventKind.TRAINING_PLAN_APPROVED)),
            )
        )
    return deadlines


def _judge(done_at: datetime | None, due: datetime, as_of: datetime) -> int:
    if done_at is not None and done_at <= due:
        return ACCEPTED_ON_TIME
    if done_at is not None or due < as_of:
        return ACCEPTED_LATE
    return ACCEPTANCE_PENDING


def _plan_verdicts(
    window: Window, plans: Sequence[_PlanDeadlines]
) -> dict[str, list[tuple[str, int]]]:
    """Return, per milestone, each plan due in the window with its verdict."""
    verdicts: dict[str, list[tuple[str, int]]] = {"submission": [], "approval": []}
    for plan in plans:
        for milestone, due, done in (
            ("submission", plan.draft_due, plan.submitted_at),
            ("approval", plan.approval_due, plan.approved_at),
        ):
            if window.start <= due < window.end:
                verdicts[milestone].append((plan.process_id, _judge(done, due, window.as_of)))
    return verdicts


def _timeliness(verdicts: Iterable[tuple[str, int]]) -> Timeliness:
    codes = [code for _process, code in verdicts]
    return Timeliness(
        on_time=codes.count(ACCEPTED_ON_TIME),
        late=codes.count(ACCEPTED_LATE),
        pending=codes.count(ACCEPTANCE_PENDING),
    )


def training_plan_figures(
    session: Session, site_id: int, period: Period, now: datetime
) -> PlanTimeliness:
    """Return how many plans due in the period were submitted and approved by their deadlines."""
    window = Window.of([site_id], period, now)
    verdicts = _plan_verdicts(window, _plans(session, window))
    return PlanTimeliness(
        submission=_timeliness(verdicts["submission"]),
        approval=_timeliness(verdicts["approval"]),
    )


# The plan figures whose ids `plan_ids` lists: the milestone and the verdict each counts.
PLAN_MEASURES = {
    Measure.PLAN_SUBMITTED_ON_TIME: ("submission", ACCEPTED_ON_TIME),
    Measure.PLAN_SUBMITTED_LATE: ("submission", ACCEPTED_LATE),
    Measure.PLAN_SUBMISSION_PENDING: ("submission", ACCEPTANCE_PENDING),
    Measure.PLAN_APPROVED_ON_TIME: ("approval", ACCEPTED_ON_TIME),
    Measure.PLAN_APPROVED_LATE: ("approval", ACCEPTED_LATE),
    Measure.PLAN_APPROVAL_PENDING: ("approval", ACCEPTANCE_PENDING),
}


def plan_ids(session: Session, window: Window, measure: Measure) -> list[str]:
    """Return the ids of the plans due in the window whose milestone got the figure's verdict."""
    milestone, code = PLAN_MEASURES[measure]
    verdicts = _plan_verdicts(window, _plans(session, window))[milestone]
    return [process_id for process_id, verdict in verdicts if verdict == code]
