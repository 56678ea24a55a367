"""The operations dashboard's figures for a site and period, computed from the event history.

Every count comes from the append-only events, aggregated in the database (GROUP BY); process and
inbox_task rows are read only for what holds now (what runs, what is open) and for a task's SLA
due time, which is recorded on the task. Every figure has a drill-down: the same SQL definition
returns the process or task ids behind it (`drilldown`).

Cohorts, so that each number means one thing:
- complaints received in the period: acceptance on time (受理及时率), escalation rate (投诉升级率)
  and the escalation ladder, the breakdowns by category and site, the weekly "received" trend
  (the site comparison leaves acceptance out: see Breakdown);
- complaints closed in the period: one-time resolution (一次性解决率), handling cycle time
  (处理周期), the weekly "closed" trend and the "closed" column of the breakdowns;
- return visits made in the period: satisfaction (满意度) and the share of poor ratings.
Events count up to the period's end, or up to now while it runs (`as_of`), so a month's figures no
longer change once the month is over.
"""

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from functools import cache
from math import floor
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session, aliased

from db.models import (
    Event,
    InboxTask,
    Process,
    ProcessKind,
    ProcessState,
    Role,
    Site,
    TaskState,
    User,
)
from db.models.people import MANAGING_ROLES
from domain.calendars import site_calendars
from domain.errors import Forbidden, Invalid, NotFound
from domain.events import EventKind
from domain.onboarding import current_policy
from forms.complaint import POOR_RATING_MAX
from rules.calendar import WorkingCalendar
from rules.sla import TierRole
from rules.training_plan import load_policy as load_plan_policy

# --- vocabulary ------------------------------------------------------------------------------

# A settled dispute counts as confirmed (db/models/resignation.py CONFIRMED_ITEM_STATES).
SETTLED_OUTCOME = "resolved"
# Return visits: a good rating closes the case, a poor one reopens it; both carry the rating.
RATING_EVENTS = (EventKind.COMPLAINT_CLOSED, EventKind.COMPLAINT_REOPENED)
# A complaint handled more than once: reopened after a poor rating, or escalated.
REWORK_EVENTS = (EventKind.COMPLAINT_REOPENED, EventKind.TASK_ESCALATED)

# The persisted name of the complaint's first-response step (declared in flows/complaint.py).
FIRST_RESPONSE_STEP = "complaint.first-response"

# Processes not closed yet; a "starting" one waits for its flow run but is already under way.
RUNNING_STATES = (ProcessState.STARTING, ProcessState.RUNNING)

# Who may read the dashboard, and who reads every site's (the quality department and the
# operations admins work company-wide).
METRICS_READERS = frozenset({*MANAGING_ROLES, Role.QUALITY})
COMPANY_WIDE_READERS = frozenset({Role.QUALITY, Role.OPS_ADMIN})

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
# Percentiles as exact fractions, so SQL (integer arithmetic) and Python pick the same ranks.
MEDIAN = Fraction(1, 2)
P90 = Fraction(9, 10)
# The exam attempts the pass rates are reported for (domain.md §2: 1st, 2nd and 3rd fail).
REPORTED_ATTEMPTS = 3
# A drill-down answers at most this many ids (the total says how many there are).
DRILLDOWN_LIMIT = 1000
ONE_DAY = timedelta(days=1)
# The longest period one request may ask for: a year (leap years included) keeps it fast.
MAX_PERIOD = timedelta(days=366)
ONE_WEEK = timedelta(weeks=1)
DECEMBER = 12

# Acceptance of one complaint, as coded in SQL.
ACCEPTANCE_PENDING, ACCEPTED_ON_TIME, ACCEPTED_LATE = 0, 1, 2
TIER_RANKS = {tier.value: tier.rank for tier in TierRole}
# A drill-down key: filters "dimension:value" joined by commas, e.g. "category:noise,week:2026-W10".
KEY_SEPARATOR, DIMENSION_SEPARATOR = ",", ":"


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A stretch of time [start, end), both aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass aware datetimes")
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")


def month_period(year: int, month: int, zone: ZoneInfo) -> Period:
    """Return the calendar month as a period on the wall clock of `zone`."""
    next_year, next_month = (year + 1, 1) if month == DECEMBER else (year, month + 1)
    return Period(
        datetime(year, month, 1, tzinfo=zone), datetime(next_year, next_month, 1, tzinfo=zone)
    )


def month_of(moment: datetime, zone: ZoneInfo) -> Period:
    """Return the month that contains `moment` in `zone`."""
    local = moment.astimezone(zone)
    return month_period(local.year, local.month, zone)


def month_before(moment: datetime, zone: ZoneInfo) -> Period:
    """Return the month before the one that contains `moment` in `zone`."""
    first = month_of(moment, zone).start
    return month_of(first - ONE_DAY, zone)


def requested_period(
    start: datetime | None, end: datetime | None, zone: ZoneInfo, now: datetime
) -> Period:
    """Return the period a reader asked for; naive times are site time; default: this month.

    Without an end, the period runs to the end of the start's month.
    """
    first = _site_time(start, zone) if start else month_of(now, zone).start
    last = _site_time(end, zone) if end else month_of(first, zone).end
    if last <= first:
        raise Invalid.field("end", "The end must come after the start")
    if last - first > MAX_PERIOD:
        raise Invalid.field("end", "A period spans at most {days} days", days=MAX_PERIOD.days)
    return Period(first, last)


def _site_time(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@dataclass(frozen=True)
class Week:
    """The part of one ISO week that falls in a period."""

    label: str  # "2026-W10"
    starts_on: date  # the Monday, local
    start: datetime
    end: datetime


def weeks_of(period: Period, zone: ZoneInfo) -> list[Week]:
    """Return the ISO weeks the period touches, cut to the period, on the wall clock of `zone`."""
    weeks = []
    cursor = period.start
    while cursor < period.end:
        local = cursor.astimezone(zone).date()
        monday = local - timedelta(days=local.weekday())
        following = datetime.combine(monday + ONE_WEEK, time(), tzinfo=zone)
        iso = monday.isocalendar()
        end = min(following, period.end)
        weeks.append(Week(f"{iso.year}-W{iso.week:02d}", monday, cursor, end))
        cursor = end
    return weeks


# --- access ----------------------------------------------------------------------------------


def may_read_metrics(user: User) -> bool:
    """Return whether the user may read the dashboard (shift leads and up, quality, ops)."""
    return user.has_role(*METRICS_READERS)


def metrics_sites(session: Session, user: User) -> list[int]:
    """Return the sites whose figures `user` may read; refuse those who may read none."""
    if not may_read_metrics(user):
        raise Forbidden(
            "Only shift leads, supervisors, site managers, quality and ops can read the dashboard"
        )
    if user.has_role(*COMPANY_WIDE_READERS):
        return list(session.scalars(select(Site.id).order_by(Site.id)))
    return [user.site_id]


def require_site(session: Session, user: User, site_id: int) -> list[int]:
    """Refuse unless `user` may read `site_id`; return every site they may read."""
    sites = metrics_sites(session, user)
    if site_id not in sites:
        if session.get(Site, site_id) is None:
            raise NotFound("Site {site_id} does not exist", site_id=site_id)
        raise Forbidden("You can read the dashboard of your own site only")
    return sites


def site_zone(session: Session, site_id: int) -> ZoneInfo:
    """Return the time zone of a site."""
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound("Site {site_id} does not exist", site_id=site_id)
    return ZoneInfo(site.timezone)


# --- the figures -----------------------------------------------------------------------------


def share(part: int, whole: int) -> float | None:
    """Return part / whole (0–1), or None when there is nothing to divide."""
    return part / whole if whole else None


class Figure(BaseModel):
    """A read-only piece of the dashboard."""

    model_config = ConfigDict(frozen=True)


class Rate(Figure):
    """A share: how many of how many."""

    numerator: int
    denominator: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def value(self) -> float | None:
        """Return the share (0–1), or None when there is nothing to divide."""
        return share(self.numerator, self.denominator)


class Timeliness(Figure):
    """How many met their deadline, missed it, or cannot be judged yet."""

    on_time: int
    late: int
    pending: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """Return the share on time among those that can be judged."""
        judged = self.on_time + self.late
        return share(self.on_time, judged)


class KindCount(Figure):
    key: str  # "kind:complaint"
    kind: str
    count: int


class StepCount(Figure):
    key: str  # "step:complaint.resolution"; "step:" for a process between steps
    kind: str
    step: str | None
    count: int


class RunningProcesses(Figure):
    total: int
    by_kind: list[KindCount]
    by_step: list[StepCount]


class TaskLoad(Figure):
    """Open tasks of one tier or holder: all of them, those due later today, those overdue."""

    key: str  # "tier:shift_lead" | "user:12" | "role:engineering" | "" for the total
    name: str | None  # the person's name for "user:" rows
    open: int
    due_today: int
    overdue: int


class TaskFigures(Figure):
    total: TaskLoad
    by_tier: list[TaskLoad]
    by_person: list[TaskLoad]


class CycleTime(Figure):
    """Handling cycle time (received → closed) of the complaints closed in the period, in hours."""

    closed: int
    median_hours: float | None
    p90_hours: float | None


class Satisfaction(Figure):
    """The ratings of the return visits made in the period (1–5); poor is 2 or lower."""

    ratings: int
    average: float | None
    poor: Rate


class ComplaintMeasures(Figure):
    """The complaint measures of seed 004, each over its cohort (see the module docstring)."""

    received: int
    closed: int
    acceptance: Timeliness  # 受理及时率: first response completed by its SLA due time
    one_time_resolution: Rate  # 一次性解决率: closed without a reopen or an escalation
    cycle_time: CycleTime  # 处理周期
    escalation: Rate  # 投诉升级率: received complaints escalated at least once
    satisfaction: Satisfaction  # 满意度


class WeekTrend(Figure):
    key: str  # "week:2026-W10"
    week: str
    starts_on: date
    received: int
    closed: int


class Breakdown(Figure):
    """One category's or site's complaints: received, closed, escalated, accepted on time."""

    key: str  # "category:noise" | "site:3"
    name: str | None  # the site's name for "site:" rows
    received: int
    closed: int
    escalated: int
    # None in the site comparison: judging every site's first responses costs two lookups a
    # complaint, more than all the rest of the dashboard; the chosen site's is in its measures.
    acceptance: Timeliness | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def escalation_rate(self) -> float | None:
        """Return the share of the received complaints that were escalated."""
        return share(self.escalated, self.received)


class FunnelStep(Figure):
    """How many received complaints reached this tier of the escalation ladder (or higher)."""

    key: str  # "tier:supervisor"
    tier: str
    reached: int


class PlanTimeliness(Figure):
    """Training plans whose deadline fell in the period: submitted and approved on time."""

    submission: Timeliness
    approval: Timeliness


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


class HandoverProgress(Figure):
    process_id: str
    subject: str
    items: int
    confirmed: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completion(self) -> float | None:
        """Return the share of checklist items confirmed (None before the inventory)."""
        return share(self.confirmed, self.items)


class HandoverFigures(Figure):
    """Handovers (resignations) not closed yet, and how far their checklists are confirmed."""

    open: int
    items: int
    confirmed: int
    handovers: list[HandoverProgress]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completion(self) -> float | None:
        """Return the share of all open handovers' items that are confirmed."""
        return share(self.confirmed, self.items)


class DashboardFigures(Figure):
    """Everything the operations dashboard shows for one site and period."""

    site_id: int
    start: datetime
    end: datetime
    as_of: datetime  # events count up to here: the period's end, or now while it runs
    now: datetime
    running: RunningProcesses
    tasks: TaskFigures
    complaints: ComplaintMeasures
    weekly: list[WeekTrend]
    by_category: list[Breakdown]
    by_site: list[Breakdown]
    escalation_ladder: list[FunnelStep]
    training_plans: PlanTimeliness
    onboarding: OnboardingFigures
    handovers: HandoverFigures


@dataclass(frozen=True)
class Window:
    """Which sites, which stretch of events, and the moment events count up to."""

    site_ids: tuple[int, ...]
    start: datetime
    end: datetime
    as_of: datetime

    @classmethod
    def of(cls, site_ids: Iterable[int], period: Period, now: datetime) -> "Window":
        """Return the window of `period` as seen at `now`."""
        return cls(tuple(sorted(set(site_ids))), period.start, period.end, min(period.end, now))


# --- SQL definitions shared by the figures and their drill-downs -----------------------------


def _seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """Return the SQL for the seconds from `start` to `end` on the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * SECONDS_PER_DAY
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    raise NotImplementedError(f"no interval arithmetic for dialect {dialect!r}")


def _week_index(column: Any, weeks: Sequence[Week]) -> ColumnElement[int]:
    """Return the SQL for the index of the week a moment (already inside the period) falls in."""
    if len(weeks) == 1:
        return literal(0)
    return case(
        *((column < week.end, index) for index, week in enumerate(weeks[:-1])),
        else_=len(weeks) - 1,
    )


def _escalations(window: Window) -> Any:
    """Return, per process, the highest tier its tasks were escalated to in the window.

    Set-based (one pass over the window's escalations, however many complaints there are): a
    complaint received in the window can only be escalated after its receipt, so within it.
    """
    escalation = aliased(Event, name="escalation")
    rank = case(TIER_RANKS, value=escalation.data["to_role"].as_string(), else_=0)
    return (
        select(escalation.process_id.label("process_id"), func.max(rank).label("top_rank"))
        .where(
            escalation.kind == EventKind.TASK_ESCALATED,
            escalation.at >= window.start,
            escalation.at < window.as_of,
        )
        .group_by(escalation.process_id)
        .subquery("escalations")
    )


def _acceptance(process_id: Any, as_of: datetime) -> ColumnElement[int]:
    """Return the SQL for whether the first response was completed by its due time.

    The due time is the one the SLA clock set on the task (pauses included); the completion is
    the task's `task_completed` event. Late also covers a response still open after its due time.
    """
    task = aliased(InboxTask, name="first_response")
    done = aliased(Event, name="first_response_done")
    verdict = case(
        (and_(done.at.is_not(None), done.at <= task.due_at), ACCEPTED_ON_TIME),
        (or_(done.at.is_not(None), task.due_at < as_of), ACCEPTED_LATE),
        else_=ACCEPTANCE_PENDING,
    )
    judged = (
        select(verdict)
        .select_from(task)
        .outerjoin(
            done,
            and_(
                done.process_id == task.process_id,
                done.kind == EventKind.TASK_COMPLETED,
                done.task_id == task.id,
                done.at < as_of,
            ),
        )
        .where(
            task.process_id == process_id,
            task.step == FIRST_RESPONSE_STEP,
            task.due_at.is_not(None),
        )
        # One first response per complaint; LIMIT guards a duplicate without a sort.
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(judged, ACCEPTANCE_PENDING)


def _detail(detail_site_id: int | None) -> ColumnElement[bool]:
    """Return the SQL for whether a row gets its detail columns (every row when None)."""
    return true() if detail_site_id is None else Process.site_id == detail_site_id


def _own_data(event_id: Any, read: Callable[[Any], ColumnElement[Any]]) -> Any:
    """Return the SQL for a value read from an event's data, looked up by the event's id.

    Read this way, the period's scan needs only (kind, at, process_id), which an index holds:
    only the rows that need the value are read, instead of every row of every site.
    """
    own = aliased(Event, name="own")
    return select(read(own)).where(own.id == event_id).scalar_subquery()


def received_complaints(
    window: Window, weeks: Sequence[Week], detail_site_id: int | None = None
) -> Select[Any]:
    """Return one row per complaint received in the window, with what the figures need.

    Compared sites need neither the category nor the acceptance: with `detail_site_id`, only
    that site's rows get them (lookups per complaint); the CASE spares the others the cost.
    """
    received = aliased(Event, name="received")
    escalations = _escalations(window)
    return (
        select(
            received.process_id.label("process_id"),
            Process.site_id.label("site_id"),
            case(
                (
                    _detail(detail_site_id),
                    _own_data(received.id, lambda own: own.data["category"].as_string()),
                )
            ).label("category"),
            received.at.label("received_at"),
            _week_index(received.at, weeks).label("week"),
            func.coalesce(escalations.c.top_rank, 0).label("top_rank"),
            case(
                (_detail(detail_site_id), _acceptance(received.process_id, window.as_of)),
                else_=ACCEPTANCE_PENDING,
            ).label("acceptance"),
        )
        .join(Process, Process.id == received.process_id)
        .outerjoin(escalations, escalations.c.process_id == received.process_id)
        .where(
            received.kind == EventKind.COMPLAINT_RECEIVED,
            received.at >= window.start,
            received.at < window.as_of,
            Process.site_id.in_(window.site_ids),
        )
    )


def closed_complaints(
    session: Session,
    window: Window,
    weeks: Sequence[Week],
    detail_site_id: int | None = None,
) -> Select[Any]:
    """Return one row per complaint closed in the window: its cycle time, rework and rating.

    With `detail_site_id`, only that site's rows get the category, rework, cycle time and
    rating (each costs lookups); the compared sites need only their count.
    """
    closed = aliased(Event, name="closed")
    intake = aliased(Event, name="intake")
    rework = aliased(Event, name="rework")
    detail = _detail(detail_site_id)
    of_intake = and_(
        intake.process_id == closed.process_id, intake.kind == EventKind.COMPLAINT_RECEIVED
    )
    category = select(intake.data["category"].as_string()).where(of_intake).limit(1)
    received_at = select(func.min(intake.at)).where(of_intake).scalar_subquery()
    # Selecting the id (not *) lets the index answer the EXISTS without reading rows.
    reworked = (
        select(rework.id)
        .where(
            rework.process_id == closed.process_id,
            rework.kind.in_(REWORK_EVENTS),
            rework.at < window.as_of,
        )
        .exists()
    )
    cycle = _seconds_between(session, received_at, closed.at)
    return (
        select(
            closed.process_id.label("process_id"),
            Process.site_id.label("site_id"),
            case((detail, category.scalar_subquery())).label("category"),
            closed.at.label("closed_at"),
            _week_index(closed.at, weeks).label("week"),
            case((and_(detail, reworked), 1), else_=0).label("reworked"),
            case((detail, cycle)).label("cycle_seconds"),
            case(
                (detail, _own_data(closed.id, lambda own: own.data["satisfaction"].as_integer()))
            ).label("satisfaction"),
        )
        .join(Process, Process.id == closed.process_id)
        .where(
            closed.kind == EventKind.COMPLAINT_CLOSED,
            closed.at >= window.start,
            closed.at < window.as_of,
            Process.site_id.in_(window.site_ids),
        )
    )


def return_visits(window: Window, kinds: Sequence[EventKind] = RATING_EVENTS) -> Select[Any]:
    """Return one row per return visit (a rating) made in the window."""
    rating = aliased(Event, name="rating")
    return (
        select(
            rating.process_id.label("process_id"),
            rating.data["satisfaction"].as_integer().label("satisfaction"),
            rating.at.label("rated_at"),
        )
        .join(Process, Process.id == rating.process_id)
        .where(
            rating.kind.in_(kinds),
            rating.at >= window.start,
            rating.at < window.as_of,
            Process.site_id.in_(window.site_ids),
        )
    )


def _open_tasks(site_id: int, now: datetime) -> Select[Any]:
    """Return the open tasks of a site that are available now (later onboarding days are not)."""
    return select(InboxTask).where(
        InboxTask.site_id == site_id,
        InboxTask.state == TaskState.OPEN,
        InboxTask.available_from <= now,
    )


def _without_jit(session: Session) -> None:
    """Turn PostgreSQL's JIT compilation off for the rest of the transaction.

    The dashboard's big queries are thousands of index lookups, whose planned cost crosses the
    JIT threshold; compiling them takes 30–50 ms a query and saves nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def _materialized(statement: Select[Any], name: str) -> Any:
    """Return `statement` as a CTE computed once, so no per-row subquery runs twice.

    Grouping a plain subquery lets SQLite and PostgreSQL inline it, and then its correlated
    subqueries run once for the grouping key and again for the output.
    """
    return statement.cte(name).prefix_with("MATERIALIZED")


def _day_end(now: datetime, zone: ZoneInfo) -> datetime:
    """Return the next local midnight after `now`."""
    return datetime.combine(now.astimezone(zone).date() + ONE_DAY, time(), tzinfo=zone)


# --- current state: processes and tasks ------------------------------------------------------


def running_processes(session: Session, site_id: int) -> RunningProcesses:
    """Return the site's processes not closed yet, by kind and by the step they wait on."""
    rows = session.execute(
        select(Process.kind, Process.current_step, func.count())
        .where(Process.state.in_(RUNNING_STATES), Process.site_id == site_id)
        .group_by(Process.kind, Process.current_step)
    ).all()
    by_kind: dict[str, int] = defaultdict(int)
    for kind, _step, count in rows:
        by_kind[kind] += count
    return RunningProcesses(
        total=sum(by_kind.values()),
        by_kind=[
            KindCount(key=f"kind:{kind}", kind=kind, count=n) for kind, n in sorted(by_kind.items())
        ],
        by_step=[
            StepCount(key=f"step:{step or ''}", kind=kind, step=step, count=count)
            for kind, step, count in sorted(rows, key=lambda r: (r[0], r[1] or ""))
        ],
    )


def task_figures(session: Session, site_id: int, now: datetime) -> TaskFigures:
    """Return the site's open tasks, due later today and overdue, by tier and by holder."""
    day_end = _day_end(now, site_zone(session, site_id))
    tasks = _open_tasks(site_id, now).subquery()
    overdue = tasks.c.due_at < now
    due_today = and_(tasks.c.due_at >= now, tasks.c.due_at < day_end)
    rows = session.execute(
        select(
            tasks.c.tier,
            tasks.c.assignee_id,
            tasks.c.candidate_role,
            func.count(),
            func.sum(case((due_today, 1), else_=0)),
            func.sum(case((overdue, 1), else_=0)),
        ).group_by(tasks.c.tier, tasks.c.assignee_id, tasks.c.candidate_role)
    ).all()
    names = _names(session, {row[1] for row in rows if row[1] is not None})
    total, tiers, holders = _Load(), defaultdict(_Load), defaultdict(_Load)
    for tier, assignee_id, role, count, today, late in rows:
        holder = f"user:{assignee_id}" if assignee_id is not None else f"role:{role or ''}"
        for load in (total, tiers[f"tier:{tier}"], holders[holder]):
            load.add(count, int(today or 0), int(late or 0))

    def shown(key: str, load: "_Load") -> TaskLoad:
        name = names.get(int(key.removeprefix("user:"))) if key.startswith("user:") else None
        return TaskLoad(
            key=key, name=name, open=load.open, due_today=load.due_today, overdue=load.overdue
        )

    tier_order = {f"tier:{tier.value}": tier.rank for tier in TierRole}
    return TaskFigures(
        total=shown("", total),
        by_tier=[
            shown(key, load)
            for key, load in sorted(
                tiers.items(), key=lambda item: tier_order.get(item[0], len(tier_order))
            )
        ],
        # Who needs help first: most overdue, then most due today, then most open.
        by_person=[
            shown(key, load)
            for key, load in sorted(
                holders.items(),
                key=lambda item: (-item[1].overdue, -item[1].due_today, -item[1].open, item[0]),
            )
        ],
    )


@dataclass
class _Load:
    """Open tasks counted from grouped rows: all of them, due later today, overdue."""

    open: int = 0
    due_today: int = 0
    overdue: int = 0

    def add(self, count: int, due_today: int, overdue: int) -> None:
        self.open += count
        self.due_today += due_today
        self.overdue += overdue


def _names(session: Session, user_ids: Collection[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(
        session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()
    )


# --- complaints ------------------------------------------------------------------------------


@dataclass
class _Tally:
    """Counts folded from grouped rows (a handful per category, week and tier)."""

    received: int = 0
    closed: int = 0
    escalated: int = 0
    on_time: int = 0
    late: int = 0
    pending: int = 0

    def add_received(self, count: int, top_rank: int, acceptance: int) -> None:
        self.received += count
        self.escalated += count if top_rank > 0 else 0
        self.on_time += count if acceptance == ACCEPTED_ON_TIME else 0
        self.late += count if acceptance == ACCEPTED_LATE else 0
        self.pending += count if acceptance == ACCEPTANCE_PENDING else 0

    def breakdown(self, key: str, name: str | None = None, *, judged: bool = True) -> Breakdown:
        acceptance = Timeliness(on_time=self.on_time, late=self.late, pending=self.pending)
        return Breakdown(
            key=key,
            name=name,
            received=self.received,
            closed=self.closed,
            escalated=self.escalated,
            acceptance=acceptance if judged else None,
        )


@dataclass(frozen=True)
class ComplaintFigures:
    """The complaint part of the dashboard: the measures, the trend, breakdowns and the ladder."""

    measures: ComplaintMeasures
    weekly: list[WeekTrend]
    by_category: list[Breakdown]
    by_site: list[Breakdown]
    escalation_ladder: list[FunnelStep]


def complaint_figures(
    session: Session,
    site_id: int,
    period: Period,
    now: datetime,
    compared_site_ids: Collection[int] = (),
) -> ComplaintFigures:
    """Return the site's complaint figures for the period, and the compared sites' breakdown.

    One pass over the period's receipts and one over its closings serve every site: the
    compared sites' rows skip the detail columns, and the grouped rows are folded here.
    """
    _without_jit(session)
    weeks = weeks_of(period, site_zone(session, site_id))
    window = Window.of({site_id, *compared_site_ids}, period, now)
    received = _materialized(received_complaints(window, weeks, site_id), "received_facts")
    grouping = (
        received.c.site_id,
        received.c.category,
        received.c.week,
        received.c.top_rank,
        received.c.acceptance,
    )
    received_rows = session.execute(select(*grouping, func.count()).group_by(*grouping)).all()
    closed = _ranked(
        _materialized(closed_complaints(session, window, weeks, site_id), "closed_facts")
    )
    grouping = (closed.c.site_id, closed.c.category, closed.c.week, closed.c.reworked)
    closed_rows = session.execute(
        select(
            *grouping,
            func.count(),
            func.count(closed.c.cycle_seconds),
            *_rating_aggregates(closed.c.satisfaction),
            *_percentile_picks(closed),
        ).group_by(*grouping)
    ).all()

    sites: dict[int, _Tally] = defaultdict(_Tally)
    categories: dict[str, _Tally] = defaultdict(_Tally)
    weekly_received, weekly_closed = [0] * len(weeks), [0] * len(weeks)
    by_rank: dict[int, int] = defaultdict(int)
    for row_site, category, week, top_rank, acceptance, count in received_rows:
        sites[row_site].add_received(count, top_rank, acceptance)
        if row_site == site_id:
            categories[category or ""].add_received(count, top_rank, acceptance)
            weekly_received[week] += count
            by_rank[top_rank] += count
    first_time = timed = 0
    closing_ratings = _Ratings()
    picked: list[float | None] = [None] * len(PERCENTILE_PICKS)
    for row in closed_rows:
        row_site, category, week, reworked, count, with_cycle = row[:6]
        ratings, picks = row[6 : 6 + RATING_AGGREGATES], row[6 + RATING_AGGREGATES :]
        sites[row_site].closed += count
        if row_site == site_id:
            categories[category or ""].closed += count
            weekly_closed[week] += count
            first_time += count if not reworked else 0
            timed += with_cycle
            closing_ratings = closing_ratings.plus(_Ratings.of(*ratings))
            # Each rank falls in exactly one group: keep the value where it was found.
            picked = [p if v is None else float(v) for p, v in zip(picked, picks, strict=True)]

    mine = sites[site_id]
    site_window = Window.of([site_id], period, now)
    measures = ComplaintMeasures(
        received=mine.received,
        closed=mine.closed,
        acceptance=Timeliness(on_time=mine.on_time, late=mine.late, pending=mine.pending),
        one_time_resolution=Rate(numerator=first_time, denominator=mine.closed),
        cycle_time=_cycle_time(mine.closed, timed, picked),
        escalation=Rate(numerator=mine.escalated, denominator=mine.received),
        satisfaction=_satisfaction(session, site_window, closing_ratings),
    )
    site_names = dict(
        session.execute(select(Site.id, Site.name).where(Site.id.in_(window.site_ids))).all()
    )
    return ComplaintFigures(
        measures=measures,
        weekly=[
            WeekTrend(
                key=f"week:{week.label}",
                week=week.label,
                starts_on=week.starts_on,
                received=weekly_received[index],
                closed=weekly_closed[index],
            )
            for index, week in enumerate(weeks)
        ],
        by_category=[
            tally.breakdown(f"category:{category}")
            for category, tally in sorted(
                categories.items(), key=lambda item: (-item[1].received, -item[1].closed, item[0])
            )
        ],
        by_site=[
            sites[compared].breakdown(f"site:{compared}", site_names.get(compared), judged=False)
            for compared in window.site_ids
        ],
        escalation_ladder=[
            FunnelStep(
                key=f"tier:{tier.value}",
                tier=tier.value,
                reached=sum(count for rank, count in by_rank.items() if rank >= tier.rank),
            )
            for tier in TierRole
        ],
    )


def _ranked(closed: Any) -> Any:
    """Return the closings with each cycle time's rank (0 = fastest) and how many have one.

    Rows without a cycle time (the compared sites', or a closing without a receipt) are ranked
    apart, so they never shift the ranks of the others.
    """
    return select(
        closed,
        (
            func.row_number().over(
                partition_by=closed.c.cycle_seconds.is_(None), order_by=closed.c.cycle_seconds
            )
            - 1
        ).label("cycle_rank"),
        func.count(closed.c.cycle_seconds).over().label("timed"),
    ).cte("ranked_closings")


def _rank_of(timed: Any, share: Fraction) -> Any:
    """Return the SQL for the rank just below the `share` percentile of `timed` values."""
    return (timed - 1) * share.numerator // share.denominator


# The ranks whose values each percentile needs: the one at or below it, and the next.
PERCENTILE_PICKS = tuple((share, step) for share in (MEDIAN, P90) for step in (0, 1))


def _percentile_picks(ranked: Any) -> list[Any]:
    """Return aggregates that find the cycle time at each rank a percentile needs."""
    return [
        func.max(
            case(
                (
                    ranked.c.cycle_rank == _rank_of(ranked.c.timed, share) + step,
                    ranked.c.cycle_seconds,
                )
            )
        )
        for share, step in PERCENTILE_PICKS
    ]


def _cycle_time(closed: int, timed: int, picked: Sequence[float | None]) -> CycleTime:
    """Return the median and 90th percentile cycle time from the values at their ranks.

    Percentiles interpolate between the two nearest ranks (as PostgreSQL's percentile_cont),
    ranked in the database so SQLite and PostgreSQL agree; `timed` is how many closed
    complaints have a cycle time (a receipt event).
    """
    values = dict(zip(PERCENTILE_PICKS, picked, strict=True))

    def hours(share: Fraction) -> float | None:
        if timed == 0:
            return None
        position = share * (timed - 1)
        low = values[(share, 0)]
        high = values[(share, 1)] if position > floor(position) else low
        if low is None or high is None:
            return None
        return (low + (high - low) * float(position - floor(position))) / SECONDS_PER_HOUR

    return CycleTime(closed=closed, median_hours=hours(MEDIAN), p90_hours=hours(P90))


@dataclass(frozen=True)
class _Ratings:
    """Return-visit ratings summed in SQL: how many, their total, how many poor."""

    count: int = 0
    total: int = 0
    poor: int = 0

    @classmethod
    def of(cls, count: int | None, total: Any, poor: Any) -> "_Ratings":
        return cls(int(count or 0), int(total or 0), int(poor or 0))

    def plus(self, other: "_Ratings") -> "_Ratings":
        return _Ratings(self.count + other.count, self.total + other.total, self.poor + other.poor)


RATING_AGGREGATES = 3  # how many, their total, how many poor


def _rating_aggregates(satisfaction: Any) -> tuple[ColumnElement[Any], ...]:
    return (
        func.count(satisfaction),
        func.sum(satisfaction),
        func.sum(case((satisfaction <= POOR_RATING_MAX, 1), else_=0)),
    )


def _satisfaction(session: Session, window: Window, closing: _Ratings) -> Satisfaction:
    """Return the window's return-visit ratings: the closings' (summed) and the reopenings'."""
    visits = return_visits(window, (EventKind.COMPLAINT_REOPENED,)).subquery("reopening_visits")
    reopening = _Ratings.of(
        *session.execute(select(*_rating_aggregates(visits.c.satisfaction))).one()
    )
    ratings = closing.plus(reopening)
    return Satisfaction(
        ratings=ratings.count,
        average=ratings.total / ratings.count if ratings.count else None,
        poor=Rate(numerator=ratings.poor, denominator=ratings.count),
    )


# --- training plans --------------------------------------------------------------------------


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


# --- onboarding ------------------------------------------------------------------------------


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
    names = _names(session, {i for i in [*by_trainer, *by_mentor] if i is not None})
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


# --- handovers -------------------------------------------------------------------------------


def _open_handovers(site_id: int) -> Select[Any]:
    return select(Process.id, Process.subject).where(
        Process.kind == ProcessKind.RESIGNATION,
        Process.state.in_(RUNNING_STATES),
        Process.site_id == site_id,
    )


def handover_figures(session: Session, site_id: int, now: datetime) -> HandoverFigures:
    """Return the site's open handovers and the share of their checklist items confirmed."""
    handovers = session.execute(
        _open_handovers(site_id).order_by(Process.started_at, Process.id)
    ).all()
    step = aliased(Event, name="checklist")
    created = step.kind == EventKind.HANDOVER_CHECKLIST_CREATED
    accepted = step.kind == EventKind.HANDOVER_ITEM_ACCEPTED
    settled = and_(
        step.kind == EventKind.HANDOVER_DISPUTE_RESOLVED,
        step.data["outcome"].as_string() == SETTLED_OUTCOME,
    )
    progress = {
        process_id: (int(items or 0), int(confirmed or 0))
        for process_id, items, confirmed in session.execute(
            select(
                step.process_id,
                func.sum(case((created, step.data["items"].as_integer()), else_=0)),
                func.sum(case((accepted, 1), (settled, 1), else_=0)),
            )
            .where(
                step.process_id.in_(_open_handovers(site_id).with_only_columns(Process.id)),
                step.kind.in_(
                    (
                        EventKind.HANDOVER_CHECKLIST_CREATED,
                        EventKind.HANDOVER_ITEM_ACCEPTED,
                        EventKind.HANDOVER_DISPUTE_RESOLVED,
                    )
                ),
                step.at <= now,
            )
            .group_by(step.process_id)
        ).all()
    }
    rows = [
        HandoverProgress(
            process_id=process_id,
            subject=subject,
            items=progress.get(process_id, (0, 0))[0],
            confirmed=progress.get(process_id, (0, 0))[1],
        )
        for process_id, subject in handovers
    ]
    return HandoverFigures(
        open=len(rows),
        items=sum(r.items for r in rows),
        confirmed=sum(r.confirmed for r in rows),
        handovers=rows,
    )


# --- the whole dashboard ---------------------------------------------------------------------


def dashboard_figures(
    session: Session,
    site_id: int,
    period: Period,
    now: datetime,
    compared_site_ids: Collection[int] = (),
) -> DashboardFigures:
    """Return every figure of the dashboard for the site and period, as seen at `now`."""
    complaints = complaint_figures(session, site_id, period, now, compared_site_ids)
    return DashboardFigures(
        site_id=site_id,
        start=period.start,
        end=period.end,
        as_of=min(period.end, now),
        now=now,
        running=running_processes(session, site_id),
        tasks=task_figures(session, site_id, now),
        complaints=complaints.measures,
        weekly=complaints.weekly,
        by_category=complaints.by_category,
        by_site=complaints.by_site,
        escalation_ladder=complaints.escalation_ladder,
        training_plans=training_plan_figures(session, site_id, period, now),
        onboarding=onboarding_figures(session, site_id, period, now),
        handovers=handover_figures(session, site_id, now),
    )


# --- drill-down ------------------------------------------------------------------------------


class Measure(StrEnum):
    """A figure whose ids can be listed; the key's filters say which part of it."""

    RUNNING = "running"  # kind:, step:
    TASKS_OPEN = "tasks_open"  # tier:, user:, role:
    TASKS_DUE_TODAY = "tasks_due_today"
    TASKS_OVERDUE = "tasks_overdue"
    RECEIVED = "received"  # category:, week:, tier: (reached that tier or higher)
    ACCEPTED_ON_TIME = "accepted_on_time"  # category:, week:
    ACCEPTED_LATE = "accepted_late"
    ACCEPTANCE_PENDING = "acceptance_pending"
    ESCALATED = "escalated"
    CLOSED = "closed"  # category:, week:; slowest first (the cycle time's drill-down)
    RESOLVED_FIRST_TIME = "resolved_first_time"
    REWORKED = "reworked"  # closed after a reopen or an escalation
    RATED = "rated"
    POOR_RATINGS = "poor_ratings"
    PLAN_SUBMITTED_ON_TIME = "plan_submitted_on_time"
    PLAN_SUBMITTED_LATE = "plan_submitted_late"
    PLAN_SUBMISSION_PENDING = "plan_submission_pending"
    PLAN_APPROVED_ON_TIME = "plan_approved_on_time"
    PLAN_APPROVED_LATE = "plan_approved_late"
    PLAN_APPROVAL_PENDING = "plan_approval_pending"
    LEARNERS = "learners"  # trainer:, mentor:
    PASSED = "passed"  # attempt: (passed by that attempt), trainer:, mentor:
    PASSED_FIRST = "passed_first"  # trainer:, mentor:
    HANDOVERS_OPEN = "handovers_open"


class Drilldown(Figure):
    """The ids behind one figure: processes (and tasks, for task figures), at most `limit`."""

    measure: str
    key: str
    total: int
    process_ids: list[str]
    task_ids: list[int]


# Which filters each measure understands.
_RECEIVED_MEASURES = {
    Measure.RECEIVED: None,
    Measure.ACCEPTED_ON_TIME: ACCEPTED_ON_TIME,
    Measure.ACCEPTED_LATE: ACCEPTED_LATE,
    Measure.ACCEPTANCE_PENDING: ACCEPTANCE_PENDING,
    Measure.ESCALATED: None,
}
_CLOSED_MEASURES = {Measure.CLOSED: None, Measure.RESOLVED_FIRST_TIME: 0, Measure.REWORKED: 1}
_TASK_MEASURES = (Measure.TASKS_OPEN, Measure.TASKS_DUE_TODAY, Measure.TASKS_OVERDUE)
_PLAN_MEASURES = {
    Measure.PLAN_SUBMITTED_ON_TIME: ("submission", ACCEPTED_ON_TIME),
    Measure.PLAN_SUBMITTED_LATE: ("submission", ACCEPTED_LATE),
    Measure.PLAN_SUBMISSION_PENDING: ("submission", ACCEPTANCE_PENDING),
    Measure.PLAN_APPROVED_ON_TIME: ("approval", ACCEPTED_ON_TIME),
    Measure.PLAN_APPROVED_LATE: ("approval", ACCEPTED_LATE),
    Measure.PLAN_APPROVAL_PENDING: ("approval", ACCEPTANCE_PENDING),
}
_LEARNER_MEASURES = (Measure.LEARNERS, Measure.PASSED, Measure.PASSED_FIRST)
_FILTERS: dict[Measure, frozenset[str]] = {
    Measure.RUNNING: frozenset({"kind", "step"}),
    **{m: frozenset({"tier", "user", "role"}) for m in _TASK_MEASURES},
    Measure.RECEIVED: frozenset({"category", "week", "tier"}),
    **{m: frozenset({"category", "week"}) for m in _RECEIVED_MEASURES if m != Measure.RECEIVED},
    **{m: frozenset({"category", "week"}) for m in _CLOSED_MEASURES},
    Measure.PASSED: frozenset({"attempt", "trainer", "mentor"}),
    Measure.LEARNERS: frozenset({"trainer", "mentor"}),
    Measure.PASSED_FIRST: frozenset({"trainer", "mentor"}),
}


def parse_key(measure: Measure, key: str | None) -> dict[str, str]:
    """Return the filters of a drill-down key, refusing those the measure does not know."""
    filters: dict[str, str] = {}
    for part in (key or "").split(KEY_SEPARATOR):
        if not part:
            continue
        dimension, separator, value = part.partition(DIMENSION_SEPARATOR)
        if not separator or dimension not in _FILTERS.get(measure, frozenset()):
            raise Invalid.field("key", "This figure cannot be broken down by {filter}", filter=part)
        filters[dimension] = value
    return filters


def _whole_number(filters: Mapping[str, str], dimension: str) -> int | None:
    """Return a filter's value as a user id or attempt number; "" means none (unassigned)."""
    value = filters[dimension]
    if value == "":
        return None
    if not value.isdigit():
        raise Invalid.field("key", "{filter} must name a number", filter=f"{dimension}:{value}")
    return int(value)


def _week_number(weeks: Sequence[Week], label: str) -> int:
    for index, week in enumerate(weeks):
        if week.label == label:
            return index
    raise Invalid.field("key", "The week {week} is not in the period", week=label)


def drilldown(
    session: Session,
    site_id: int,
    period: Period,
    now: datetime,
    measure: Measure,
    key: str | None = None,
    limit: int = DRILLDOWN_LIMIT,
) -> Drilldown:
    """Return the ids of the processes (and tasks) behind one figure of the dashboard."""
    filters = parse_key(measure, key)
    _without_jit(session)
    window = Window.of([site_id], period, now)
    if measure is Measure.RUNNING:
        found = _running_ids(session, site_id, filters)
    elif measure in _TASK_MEASURES:
        return _task_drilldown(session, site_id, now, measure, key or "", filters, limit)
    elif measure in _RECEIVED_MEASURES:
        found = _received_ids(session, window, period, measure, filters)
    elif measure in _CLOSED_MEASURES:
        found = _closed_ids(session, window, period, measure, filters)
    elif measure in (Measure.RATED, Measure.POOR_RATINGS):
        found = _rated_ids(session, window, poor=measure is Measure.POOR_RATINGS)
    elif measure in _PLAN_MEASURES:
        milestone, code = _PLAN_MEASURES[measure]
        verdicts = _plan_verdicts(window, _plans(session, window))[milestone]
        found = [process_id for process_id, verdict in verdicts if verdict == code]
    elif measure in _LEARNER_MEASURES:
        found = _learner_ids(session, window, measure, filters)
    else:
        found = list(
            session.scalars(
                _open_handovers(site_id)
                .with_only_columns(Process.id)
                .order_by(Process.started_at, Process.id)
            )
        )
    return Drilldown(
        measure=measure, key=key or "", total=len(found), process_ids=found[:limit], task_ids=[]
    )


def _running_ids(session: Session, site_id: int, filters: Mapping[str, str]) -> list[str]:
    statement = select(Process.id).where(
        Process.state.in_(RUNNING_STATES), Process.site_id == site_id
    )
    if "kind" in filters:
        statement = statement.where(Process.kind == filters["kind"])
    if "step" in filters:
        step = filters["step"]
        statement = statement.where(
            Process.current_step == step if step else Process.current_step.is_(None)
        )
    return list(session.scalars(statement.order_by(Process.started_at, Process.id)))


def _task_drilldown(
    session: Session,
    site_id: int,
    now: datetime,
    measure: Measure,
    key: str,
    filters: Mapping[str, str],
    limit: int,
) -> Drilldown:
    statement = _open_tasks(site_id, now).with_only_columns(InboxTask.id, InboxTask.process_id)
    if measure is Measure.TASKS_OVERDUE:
        statement = statement.where(InboxTask.due_at < now)
    elif measure is Measure.TASKS_DUE_TODAY:
        day_end = _day_end(now, site_zone(session, site_id))
        statement = statement.where(InboxTask.due_at >= now, InboxTask.due_at < day_end)
    if "tier" in filters:
        statement = statement.where(InboxTask.tier == filters["tier"])
    if "user" in filters:
        user_id = _whole_number(filters, "user")
        statement = statement.where(
            InboxTask.assignee_id == user_id
            if user_id is not None
            else InboxTask.assignee_id.is_(None)
        )
    if "role" in filters:
        statement = statement.where(
            InboxTask.assignee_id.is_(None), InboxTask.candidate_role == filters["role"]
        )
    rows = session.execute(
        statement.order_by(InboxTask.due_at.asc().nulls_last(), InboxTask.id)
    ).all()
    return Drilldown(
        measure=measure,
        key=key,
        total=len(rows),
        process_ids=list(dict.fromkeys(row.process_id for row in rows))[:limit],
        task_ids=[row.id for row in rows[:limit]],
    )


def _received_ids(
    session: Session,
    window: Window,
    period: Period,
    measure: Measure,
    filters: Mapping[str, str],
) -> list[str]:
    weeks = weeks_of(period, site_zone(session, window.site_ids[0]))
    facts = _materialized(received_complaints(window, weeks), "received_facts")
    statement = select(facts.c.process_id)
    code = _RECEIVED_MEASURES[measure]
    if code is not None:
        statement = statement.where(facts.c.acceptance == code)
    if measure is Measure.ESCALATED:
        statement = statement.where(facts.c.top_rank > 0)
    if "category" in filters:
        statement = statement.where(facts.c.category == filters["category"])
    if "week" in filters:
        statement = statement.where(facts.c.week == _week_number(weeks, filters["week"]))
    if "tier" in filters:
        if filters["tier"] not in TIER_RANKS:
            raise Invalid.field("key", "No escalation tier {tier}", tier=filters["tier"])
        statement = statement.where(facts.c.top_rank >= TIER_RANKS[filters["tier"]])
    return list(session.scalars(statement.order_by(facts.c.received_at, facts.c.process_id)))


def _closed_ids(
    session: Session,
    window: Window,
    period: Period,
    measure: Measure,
    filters: Mapping[str, str],
) -> list[str]:
    weeks = weeks_of(period, site_zone(session, window.site_ids[0]))
    facts = _materialized(closed_complaints(session, window, weeks), "closed_facts")
    statement = select(facts.c.process_id)
    reworked = _CLOSED_MEASURES[measure]
    if reworked is not None:
        statement = statement.where(facts.c.reworked == reworked)
    if "category" in filters:
        statement = statement.where(facts.c.category == filters["category"])
    if "week" in filters:
        statement = statement.where(facts.c.week == _week_number(weeks, filters["week"]))
    return list(
        session.scalars(statement.order_by(facts.c.cycle_seconds.desc(), facts.c.process_id))
    )


def _rated_ids(session: Session, window: Window, *, poor: bool) -> list[str]:
    visits = return_visits(window).subquery("visits")
    statement = select(visits.c.process_id).group_by(visits.c.process_id)
    if poor:
        statement = statement.where(visits.c.satisfaction <= POOR_RATING_MAX)
    return list(
        session.scalars(statement.order_by(func.min(visits.c.rated_at), visits.c.process_id))
    )


def _learner_ids(
    session: Session, window: Window, measure: Measure, filters: Mapping[str, str]
) -> list[str]:
    learners = _learners(session, window)
    if "trainer" in filters:
        trainer_id = _whole_number(filters, "trainer")
        learners = [x for x in learners if x.trainer_id == trainer_id]
    if "mentor" in filters:
        mentor_id = _whole_number(filters, "mentor")
        learners = [x for x in learners if x.mentor_id == mentor_id]
    if measure is Measure.PASSED_FIRST:
        learners = [x for x in learners if _passed_by(x, 1)]
    elif measure is Measure.PASSED:
        attempt = _whole_number(filters, "attempt") if "attempt" in filters else None
        learners = [
            x
            for x in learners
            if (x.passed_at is not None if attempt is None else _passed_by(x, attempt))
        ]
    return sorted(x.process_id for x in learners)
