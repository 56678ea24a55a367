"""China's statutory holidays and make-up working days (调休), with a fallback for unknown years."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cache

import chinese_calendar
import holidays
from holidays.countries.china import ChinaStaticHolidays

CHINA = "CN"
# Holidays fixed by date every year (元旦, 劳动节, 国庆节 1–3). Used when the State Council's
# schedule for a year is not known yet: it is published late in the previous year.
FIXED_DATE_HOLIDAYS: tuple[tuple[int, int], ...] = ((1, 1), (5, 1), (10, 1), (10, 2), (10, 3))
SATURDAY = 5


class YearSource(StrEnum):
    """Where a year's statutory days come from."""

    HOLIDAYS_PACKAGE = "holidays"
    CHINESE_CALENDAR = "chinesecalendar"
    ENTERED_BY_ADMIN = "entered_by_admin"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class StatutoryYear:
    """One year's holidays and make-up working days, and where they come from."""

    year: int
    holidays: frozenset[date]
    make_up_working_days: frozenset[date]
    source: YearSource

    @property
    def is_official(self) -> bool:
        """Return whether the days are the official schedule rather than the fallback."""
        return self.source is not YearSource.FALLBACK

    def is_working_day(self, day: date) -> bool:
        """Return whether the statutory calendar has people at work on this day."""
        if day in self.holidays:
            return False
        return day in self.make_up_working_days or day.weekday() < SATURDAY


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def _from_holidays_package(year: int) -> StatutoryYear:
    official = holidays.country_holidays(CHINA, years=year)
    # A January holiday can be made up on a December weekend of the year before.
    next_year = holidays.country_holidays(CHINA, years=year + 1)
    make_up = {
        d for d in (*official.weekend_workdays, *next_year.weekend_workdays) if d.year == year
    }
    return StatutoryYear(
        year=year,
        holidays=frozenset(d for d in official if d.year == year),
        make_up_working_days=frozenset(make_up),
        source=YearSource.HOLIDAYS_PACKAGE,
    )


def _from_chinese_calendar(year: int) -> StatutoryYear | None:
    days = _days_of(year)
    try:
        off = {d for d in days if not chinese_calendar.is_workday(d) and d.weekday() < SATURDAY}
        make_up = {d for d in days if chinese_calendar.is_workday(d) and d.weekday() >= SATURDAY}
    except NotImplementedError:
        return None
    return StatutoryYear(year, frozenset(off), frozenset(make_up), YearSource.CHINESE_CALENDAR)


def fallback_year(year: int) -> StatutoryYear:
    """Return weekends plus the fixed-date holidays, for a year nobody has published yet."""
    fixed = frozenset(date(year, month, day) for month, day in FIXED_DATE_HOLIDAYS)
    return StatutoryYear(year, fixed, frozenset(), YearSource.FALLBACK)


@cache
def statutory_year(year: int) -> StatutoryYear:
    """Return the year's statutory days from the packages, or the fallback if neither knows it."""
    # `holidays` computes lunar holidays for any year, so "has China's schedule" means the year is
    # in its hand-entered table of 调休 days, not merely that it returns holidays.
    if year in ChinaStaticHolidays.special_public_holidays:
        return _from_holidays_package(year)
    return _from_chinese_calendar(year) or fallback_year(year)


def unknown_years(years: Iterable[int]) -> list[int]:
    """Return the years whose official schedule neither package knows, in ascending order."""
    return sorted({year for year in years if not statutory_year(year).is_official})
