"""One working calendar for every due date: statutory days, site overrides and service hours.

Moments go in and come out timezone-aware: any aware datetime is accepted, every returned moment
is in UTC. Days (`date`) are the site's local days. The arithmetic runs on the site's wall clock.

Two clocks, because a 24-hour front desk works on holidays but "7 working days" must not:
- SERVICE_HOURS runs in every service window, on rest days too if the site has rest-day windows.
  Targets in working hours use it: for a 24-hour site a working hour is a wall-clock hour.
- WORKING_DAYS runs only in the service windows of working days (statutory calendar plus the
  site's overrides). Targets in working days use it, so pauses over a holiday extend nothing.

`add_working_days(start, n)` follows the Civil Code (arts. 201, 203): the day the request arrives
does not count, counting starts the next day, and the period ends when service ends on the n-th
working day (17:30 for a day shift, 24:00 for a 24-hour site).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rules.config_errors import RuleConfigError, problems_from
from rules.statutory import StatutoryYear, YearSource, statutory_year

DEFAULT_TIMEZONE = "Asia/Shanghai"
BUNDLED_CALENDARS = Path(__file__).with_name("calendars.yaml")
MINUTES_PER_DAY = 24 * 60
ONE_DAY = timedelta(days=1)
NO_TIME = timedelta(0)
# Searching further than this for working time means the calendar has none: fail, don't loop.
MAX_SEARCH_DAYS = 3 * 366
# A fixed moment for the trial calculation on load, so validation does not depend on today.
TRIAL_START = datetime(2026, 9, 30, 9, 0, tzinfo=ZoneInfo(DEFAULT_TIMEZONE))
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

Interval = tuple[datetime, datetime]


class CalendarError(ValueError):
    """A calculation found no working time, or was given a naive moment."""


class Weekday(StrEnum):
    """Weekday names as admins write them; the order matches `date.weekday()`."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        """Return the `date.weekday()` number of this day."""
        return list(Weekday).index(self)


class Clock(StrEnum):
    """Which service windows the clock runs in."""

    SERVICE_HOURS = "service_hours"
    WORKING_DAYS = "working_days"


def _minutes(clock_time: str) -> int:
    hours, minutes = clock_time.split(":")
    return int(hours) * 60 + int(minutes)


class ServiceWindow(BaseModel):
    """One daily stretch of service, "HH:MM" to "HH:MM"; "24:00" ends at midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _is_clock_time(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value) or _minutes(value) > MINUTES_PER_DAY:
            raise ValueError(f"{value!r} is not a time of day between 00:00 and 24:00")
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> "ServiceWindow":
        if self.end_minute <= self.start_minute:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self

    @property
    def start_minute(self) -> int:
        """Return the start as minutes after midnight."""
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        """Return the end as minutes after midnight."""
        return _minutes(self.end)


def _no_overlaps(windows: list[ServiceWindow]) -> list[ServiceWindow]:
    for earlier, later in zip(windows, windows[1:], strict=False):
        if later.start_minute < earlier.end_minute:
            raise ValueError(
                f"{later.start}–{later.end} overlaps or comes before {earlier.start}–{earlier.end};"
                " list windows in order without overlaps"
            )
    return windows


class ServiceHours(BaseModel):
    """The daily windows of service on working days and on rest days (weekends, holidays)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_working_days: list[ServiceWindow] = Field(min_length=1)
    on_rest_days: list[ServiceWindow] = Field(default_factory=list)

    _ordered = field_validator("on_working_days", "on_rest_days")(_no_overlaps)


class SiteOverrides(BaseModel):
    """One year's site-specific closures and extra working days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    closures: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)


class OfficialDays(BaseModel):
    """A year's official holidays and make-up working days, entered by hand by an admin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: list[date] = Field(min_length=1)
    make_up_working_days: list[date] = Field(default_factory=list)


def _dates_in_year(year: int, field: str, days: Iterable[date]) -> None:
    for day in days:
        if day.year != year:
            raise ValueError(f"{year}.{field}: {day} is not in {year}")


class CalendarConfig(BaseModel):
    """A named working calendar: time zone, weekly rest days, service hours and overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    timezone: str = DEFAULT_TIMEZONE
    weekly_rest_days: list[Weekday] = Field(
        default_factory=lambda: [Weekday.SATURDAY, Weekday.SUNDAY]
    )
    service_hours: ServiceHours
    official_days: dict[int, OfficialDays] = Field(default_factory=dict)
    site_overrides: dict[int, SiteOverrides] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("weekly_rest_days")
    @classmethod
    def _leaves_a_working_day(cls, value: list[Weekday]) -> list[Weekday]:
        if len(set(value)) != len(value):
            raise ValueError("a weekday is listed twice")
        if len(value) == len(Weekday):
            raise ValueError("every weekday is a rest day; a week needs at least one working day")
        return value

    @field_validator("official_days")
    @classmethod
    def _official_days_in_year(cls, value: dict[int, OfficialDays]) -> dict[int, OfficialDays]:
        for year, days in value.items():
            _dates_in_year(year, "holidays", days.holidays)
            _dates_in_year(year, "make_up_working_days", days.make_up_working_days)
        return value

    @field_validator("site_overrides")
    @classmethod
    def _overrides_in_year(cls, value: dict[int, SiteOverrides]) -> dict[int, SiteOverrides]:
        for year, overrides in value.items():
            _dates_in_year(year, "closures", overrides.closures)
            _dates_in_year(year, "extra_working_days", overrides.extra_working_days)
            both = set(overrides.closures) & set(overrides.extra_working_days)
            if both:
                listed = ", ".join(str(day) for day in sorted(both))
                raise ValueError(f"{year}: {listed} is both a closure and an extra working day")
        return value


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


def _without_pauses(window: Interval, pauses: Sequence[Interval]) -> list[Interval]:
    """Cut the paused stretches out of one window (pauses sorted by start)."""
    pieces = []
    start, end = window
    for pause_start, pause_end in pauses:
        if pause_end <= start or pause_start >= end:
            continue
        if pause_start > start:
            pieces.append((start, pause_start))
        start = max(start, pause_end)
        if start >= end:
            return pieces
    pieces.append((start, end))
    return pieces


class WorkingCalendar:
    """A site's working days and service hours, with the due-date arithmetic on top."""

    def __init__(self, config: CalendarConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._rest_weekdays = frozenset(day.number for day in config.weekly_rest_days)
        self._closures = frozenset(
            day for overrides in config.site_overrides.values() for day in overrides.closures
        )
        self._extra_working_days = frozenset(
            day
            for overrides in config.site_overrides.values()
            for day in overrides.extra_working_days
        )

    @property
    def name(self) -> str:
        """Return the calendar's name."""
        return self.config.name

    def statutory_year(self, year: int) -> StatutoryYear:
        """Return the year's statutory days, preferring what an admin entered by hand."""
        entered = self.config.official_days.get(year)
        if entered is None:
            return statutory_year(year)
        return StatutoryYear(
            year=year,
            holidays=frozenset(entered.holidays),
            make_up_working_days=frozenset(entered.make_up_working_days),
            source=YearSource.ENTERED_BY_ADMIN,
        )

    def unknown_years(self, years: Iterable[int]) -> list[int]:
        """Return the years this calendar runs on the fallback, so admins can enter them."""
        return sorted({year for year in years if not self.statutory_year(year).is_official})

    def is_working_day(self, day: date) -> bool:
        """Return whether the day is a working day at this site."""
        if day in self._extra_working_days:
            return True
        if day in self._closures:
            return False
        statutory = self.statutory_year(day.year)
        if day in statutory.holidays:
            return False
        return day in statutory.make_up_working_days or day.weekday() not in self._rest_weekdays

    def nth_working_day(self, start_date: date, n: int) -> date:
        """Return the n-th working day counting from start_date itself (day 1 may be start_date)."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        day = start_date
        for _ in range(MAX_SEARCH_DAYS):
            if self.is_working_day(day):
                n -= 1
                if n == 0:
                    return day
            day += ONE_DAY
        raise CalendarError(f"{self.name}: no working day within {MAX_SEARCH_DAYS} days")

    def service_windows(self, day: date, clock: Clock = Clock.SERVICE_HOURS) -> list[Interval]:
        """Return the day's windows on the given clock as UTC intervals."""
        hours = self.config.service_hours
        if self.is_working_day(day):
            windows = hours.on_working_days
        elif clock is Clock.SERVICE_HOURS:
            windows = hours.on_rest_days
        else:
            windows = []
        midnight = datetime.combine(day, time(), tzinfo=self.zone)
        return [
            (
                (midnight + timedelta(minutes=window.start_minute)).astimezone(UTC),
                (midnight + timedelta(minutes=window.end_minute)).astimezone(UTC),
            )
            for window in windows
        ]

    def end_of_service(self, day: date) -> datetime:
        """Return when service ends on a working day (UTC)."""
        return self.service_windows(day, Clock.WORKING_DAYS)[-1][1]

    def add_working_time(
        self,
        start: datetime,
        amount: timedelta,
        clock: Clock = Clock.SERVICE_HOURS,
        pauses: Sequence[Interval] = (),
    ) -> datetime:
        """Return the moment `amount` of running clock time after start, skipping the pauses."""
        if amount < NO_TIME:
            raise ValueError(f"amount must not be negative, got {amount}")
        start = _as_utc(start)
        paused = sorted((_as_utc(a), _as_utc(b)) for a, b in pauses)
        remaining = amount
        day = start.astimezone(self.zone).date()
        for _ in range(MAX_SEARCH_DAYS):
            for window in self.service_windows(day, clock):
                for piece_start, piece_end in _without_pauses(window, paused):
                    if piece_end <= start:
                        continue
                    begin = max(piece_start, start)
                    if remaining <= piece_end - begin:
                        return begin + remaining
                    remaining -= piece_end - begin
            day += ONE_DAY
        raise CalendarError(f"{self.name}: no working time within {MAX_SEARCH_DAYS} days")

    def add_working_hours(self, start: datetime, hours: float | timedelta) -> datetime:
        """Return the moment the given working hours after start end (service-hours clock)."""
        amount = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
        return self.add_working_time(start, amount)

    def next_working_start(self, moment: datetime, clock: Clock = Clock.SERVICE_HOURS) -> datetime:
        """Return the moment itself if the clock runs then, else when it next starts running."""
        return self.add_working_time(moment, NO_TIME, clock)

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """Return when service ends on the n-th working day after the day of start (UTC)."""
        first_day_counted = _as_utc(start).astimezone(self.zone).date() + ONE_DAY
        return self.end_of_service(self.nth_working_day(first_day_counted, n))

    def working_time_between(
        self,
        a: datetime,
        b: datetime,
        clock: Clock = Clock.SERVICE_HOURS,
        pauses: Sequence[Interval] = (),
    ) -> timedelta:
        """Return the running clock time from a to b, paused stretches excluded (0 if b <= a)."""
        a, b = _as_utc(a), _as_utc(b)
        paused = sorted((_as_utc(p), _as_utc(q)) for p, q in pauses)
        total = NO_TIME
        day = a.astimezone(self.zone).date()
        last_day = b.astimezone(self.zone).date()
        while day <= last_day:
            for window in self.service_windows(day, clock):
                for piece_start, piece_end in _without_pauses(window, paused):
                    overlap = min(piece_end, b) - max(piece_start, a)
                    total += max(overlap, NO_TIME)
            day += ONE_DAY
        return total


def _trial(calendar: WorkingCalendar) -> None:
    """Run each calculation once so a calendar with no working time fails on load, not later."""
    calendar.add_working_hours(TRIAL_START, 1)
    calendar.add_working_days(TRIAL_START, 1)
    calendar.working_time_between(TRIAL_START, TRIAL_START + ONE_DAY)


def parse_calendar(data: Mapping[str, Any]) -> WorkingCalendar:
    """Return a calendar validated from a dict (bundled YAML or an admin's row)."""
    name = str(data.get("name", "")) if isinstance(data, Mapping) else ""
    try:
        config = CalendarConfig.model_validate(data)
    except ValidationError as error:
        raise RuleConfigError(problems_from(error, prefix=name)) from error
    calendar = WorkingCalendar(config)
    try:
        _trial(calendar)
    except CalendarError as error:
        raise RuleConfigError(
            [
                f"{name}: the trial calculation from {TRIAL_START.isoformat()} found no working"
                f" time within {MAX_SEARCH_DAYS} days; check weekly_rest_days, site_overrides"
                " and service_hours"
            ]
        ) from error
    return calendar


class SiteCalendarChange(BaseModel):
    """How one site's version of a named calendar differs: its hours, its own days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_hours: ServiceHours | None = None
    site_overrides: dict[int, SiteOverrides] = Field(default_factory=dict)


class SiteCalendarsConfig(BaseModel):
    """One site's changes to the shared calendars, by calendar name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(min_length=1)  # the site's code, as in the admin pages
    calendars: dict[str, SiteCalendarChange] = Field(min_length=1)


def _merged_overrides(
    shared: Mapping[int, SiteOverrides], own: Mapping[int, SiteOverrides]
) -> dict[int, dict[str, list[str]]]:
    merged: dict[int, dict[str, list[str]]] = {}
    for year in sorted({*shared, *own}):
        parts = [o for o in (shared.get(year), own.get(year)) if o is not None]
        merged[year] = {
            "closures": sorted({str(d) for o in parts for d in o.closures}),
            "extra_working_days": sorted({str(d) for o in parts for d in o.extra_working_days}),
        }
    return merged


def site_version(
    calendar: WorkingCalendar, site: str, change: SiteCalendarChange
) -> WorkingCalendar:
    """Return the site's version of a shared calendar, validated (and trialled) like any other."""
    data = calendar.config.model_dump(mode="json")
    if change.service_hours is not None:
        data["service_hours"] = change.service_hours.model_dump(mode="json")
    data["site_overrides"] = _merged_overrides(
        calendar.config.site_overrides, change.site_overrides
    )
    try:
        return parse_calendar(data)
    except RuleConfigError as error:
        raise RuleConfigError([f"sites.{site}.{p}" for p in error.problems]) from error


class CalendarBook:
    """The shared calendars, and each site's own version of those it changes."""

    def __init__(
        self,
        shared: Mapping[str, WorkingCalendar],
        by_site: Mapping[str, Mapping[str, WorkingCalendar]],
    ) -> None:
        self.shared = dict(shared)
        self.by_site = {site: dict(calendars) for site, calendars in by_site.items()}
        # Merged once: every due date of a site's tasks asks for them.
        self._at_site = {site: {**self.shared, **own} for site, own in self.by_site.items()}

    def for_site(self, site: str | None) -> dict[str, WorkingCalendar]:
        """Return the calendars that apply at `site` (its own versions over the shared ones)."""
        return self._at_site.get(site or "", self.shared)


def _site_calendars(
    entries: Iterable[Any], shared: Mapping[str, WorkingCalendar]
) -> dict[str, dict[str, WorkingCalendar]]:
    by_site: dict[str, dict[str, WorkingCalendar]] = {}
    for entry in entries:
        site = str(entry.get("site", "")) if isinstance(entry, Mapping) else ""
        try:
            config = SiteCalendarsConfig.model_validate(entry)
        except ValidationError as error:
            raise RuleConfigError(problems_from(error, prefix=f"sites.{site}")) from error
        if config.site in by_site:
            raise RuleConfigError([f"sites.{config.site}: site listed twice"])
        unknown = sorted(set(config.calendars) - set(shared))
        if unknown:
            raise RuleConfigError([f"sites.{config.site}: unknown calendar {unknown[0]!r}"])
        by_site[config.site] = {
            name: site_version(shared[name], config.site, change)
            for name, change in config.calendars.items()
        }
    return by_site


def load_calendar_book(path: Path | None = None) -> CalendarBook:
    """Return the shared calendars and the sites' versions from a YAML file (bundled default)."""
    document = yaml.safe_load((path or BUNDLED_CALENDARS).read_text(encoding="utf-8"))
    calendars: dict[str, WorkingCalendar] = {}
    for entry in document["calendars"]:
        calendar = parse_calendar(entry)
        if calendar.name in calendars:
            raise RuleConfigError([f"{calendar.name}: calendar defined twice"])
        calendars[calendar.name] = calendar
    return CalendarBook(calendars, _site_calendars(document.get("sites") or [], calendars))


def load_calendars(path: Path | None = None) -> dict[str, WorkingCalendar]:
    """Return the shared named calendars from a YAML file (the bundled ones by default)."""
    return load_calendar_book(path).shared
