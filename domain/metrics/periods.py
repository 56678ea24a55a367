"""The periods the dashboard reports on: months, the weeks of a trend, and the window of events.

Periods are reckoned on the wall clock of the site (`site_zone`).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from db.models import Site
from domain.errors import Invalid, NotFound

ONE_DAY = timedelta(days=1)
# The longest period one request may ask for: a year (leap years included) keeps it fast.
MAX_PERIOD = timedelta(days=366)
ONE_WEEK = timedelta(weeks=1)
DECEMBER = 12


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


def site_zone(session: Session, site_id: int) -> ZoneInfo:
    """Return the time zone of a site."""
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound("Site {site_id} does not exist", site_id=site_id)
    return ZoneInfo(site.timezone)


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
