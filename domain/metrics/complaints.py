"""The complaint figures: the measures of seed 004, the weekly trend, breakdowns and the ladder.

Cohorts, so that each number means one thing:
- complaints received in the period: acceptance on time (受理及时率), escalation rate (投诉升级率)
  and the escalation ladder, the breakdowns by category and site, the weekly "received" trend
  (the site comparison leaves acceptance out: see Breakdown);
- complaints closed in the period: one-time resolution (一次性解决率), handling cycle time
  (处理周期), the weekly "closed" trend and the "closed" column of the breakdowns;
- return visits made in the period: satisfaction (满意度) and the share of poor ratings.
"""

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from math import floor
from typing import Any

from pydantic import computed_field
from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from db.models import Event, InboxTask, Process, Site
from domain.errors import Invalid
from domain.events import EventKind
from domain.metrics.figures import (
    ACCEPTANCE_PENDING,
    ACCEPTED_LATE,
    ACCEPTED_ON_TIME,
    Figure,
    Rate,
    Timeliness,
    share,
)
from domain.metrics.measures import Measure
from domain.metrics.periods import Period, Week, Window, site_zone, weeks_of
from domain.metrics.queries import without_jit
from forms.complaint import POOR_RATING_MAX
from rules.sla import TierRole

# Return visits: a good rating closes the case, a poor one reopens it; both carry the rating.
RATING_EVENTS = (EventKind.COMPLAINT_CLOSED, EventKind.COMPLAINT_REOPENED)
# A complaint handled more than once: reopened after a poor rating, or escalated.
REWORK_EVENTS = (EventKind.COMPLAINT_REOPENED, EventKind.TASK_ESCALATED)

# The persisted name of the complaint's first-response step (declared in flows/complaint.py).
FIRST_RESPONSE_STEP = "complaint.first-response"

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
# Percentiles as exact fractions, so SQL (integer arithmetic) and Python pick the same ranks.
MEDIAN = Fraction(1, 2)
P90 = Fraction(9, 10)
TIER_RANKS = {tier.value: tier.rank for tier in TierRole}


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


def _materialized(statement: Select[Any], name: str) -> Any:
    """Return `statement` as a CTE computed once, so no per-row subquery runs twice.

    Grouping a plain subquery lets SQLite and PostgreSQL inline it, and then its correlated
    subqueries run once for the grouping key and again for the output.
    """
    return statement.cte(name).prefix_with("MATERIALIZED")


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
    without_jit(session)
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


# The received complaints' figures whose ids `received_ids` lists, with the acceptance they need.
RECEIVED_MEASURES = {
    Measure.RECEIVED: None,
    Measure.ACCEPTED_ON_TIME: ACCEPTED_ON_TIME,
    Measure.ACCEPTED_LATE: ACCEPTED_LATE,
    Measure.ACCEPTANCE_PENDING: ACCEPTANCE_PENDING,
    Measure.ESCALATED: None,
}
# The closed complaints' figures whose ids `closed_ids` lists, with the rework they need.
CLOSED_MEASURES = {Measure.CLOSED: None, Measure.RESOLVED_FIRST_TIME: 0, Measure.REWORKED: 1}


def _week_number(weeks: Sequence[Week], label: str) -> int:
    for index, week in enumerate(weeks):
        if week.label == label:
            return index
    raise Invalid.field("key", "The week {week} is not in the period", week=label)


def received_ids(
    session: Session,
    window: Window,
    period: Period,
    measure: Measure,
    filters: Mapping[str, str],
) -> list[str]:
    """Return the ids of the received complaints behind a figure, in the order received."""
    weeks = weeks_of(period, site_zone(session, window.site_ids[0]))
    facts = _materialized(received_complaints(window, weeks), "received_facts")
    statement = select(facts.c.process_id)
    code = RECEIVED_MEASURES[measure]
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


def closed_ids(
    session: Session,
    window: Window,
    period: Period,
    measure: Measure,
    filters: Mapping[str, str],
) -> list[str]:
    """Return the ids of the closed complaints behind a figure, the slowest first."""
    weeks = weeks_of(period, site_zone(session, window.site_ids[0]))
    facts = _materialized(closed_complaints(session, window, weeks), "closed_facts")
    statement = select(facts.c.process_id)
    reworked = CLOSED_MEASURES[measure]
    if reworked is not None:
        statement = statement.where(facts.c.reworked == reworked)
    if "category" in filters:
        statement = statement.where(facts.c.category == filters["category"])
    if "week" in filters:
        statement = statement.where(facts.c.week == _week_number(weeks, filters["week"]))
    return list(
        session.scalars(statement.order_by(facts.c.cycle_seconds.desc(), facts.c.process_id))
    )


def rated_ids(session: Session, window: Window, *, poor: bool) -> list[str]:
    """Return the ids of the complaints rated in the window (only poorly, with `poor`)."""
    visits = return_visits(window).subquery("visits")
    statement = select(visits.c.process_id).group_by(visits.c.process_id)
    if poor:
        statement = statement.where(visits.c.satisfaction <= POOR_RATING_MAX)
    return list(
        session.scalars(statement.order_by(func.min(visits.c.rated_at), visits.c.process_id))
    )
