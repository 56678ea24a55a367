"""China's statutory days from the packages, and the fallback for years they do not know."""

from datetime import date, timedelta

import chinese_calendar
import pytest

from rules.statutory import YearSource, statutory_year, unknown_years

# Years both packages know; they must agree on every day or one of them has a wrong fact.
YEARS_BOTH_PACKAGES_KNOW = range(2018, 2027)


def test_2026_national_day_week_and_its_make_up_days() -> None:
    year = statutory_year(2026)

    assert year.source is YearSource.HOLIDAYS_PACKAGE
    assert {date(2026, 10, day) for day in range(1, 8)} - {date(2026, 10, 4)} <= year.holidays
    assert {date(2026, 9, 20), date(2026, 10, 10)} <= year.make_up_working_days
    assert year.is_working_day(date(2026, 9, 20)) is True  # Sunday, 调休
    assert year.is_working_day(date(2026, 10, 4)) is False  # Sunday inside the holiday week
    assert year.is_working_day(date(2026, 10, 8)) is True


@pytest.mark.parametrize("year", YEARS_BOTH_PACKAGES_KNOW)
def test_packages_agree_on_every_day(year: int) -> None:
    known = statutory_year(year)
    day = date(year, 1, 1)
    disagreements = []
    while day.year == year:
        if known.is_working_day(day) != chinese_calendar.is_workday(day):
            disagreements.append(day)
        day += timedelta(days=1)

    assert disagreements == []


def test_make_up_day_in_december_for_a_january_holiday_belongs_to_its_own_year() -> None:
    # 2001-12-29 (Saturday) was worked for the 2002 New Year break.
    assert date(2001, 12, 29) in statutory_year(2001).make_up_working_days


def test_year_unknown_to_both_packages_falls_back_and_is_reported() -> None:
    year = statutory_year(2031)

    assert unknown_years([2026, 2031, 2025]) == [2031]
    assert year.source is YearSource.FALLBACK
    assert year.holidays == {
        date(2031, 1, 1),
        date(2031, 5, 1),
        date(2031, 10, 1),
        date(2031, 10, 2),
        date(2031, 10, 3),
    }
    assert year.make_up_working_days == frozenset()
    # Spring Festival 2031 (Thursday 23 January) is not known, so it counts as a working day.
    assert year.is_working_day(date(2031, 1, 23)) is True
    assert year.is_working_day(date(2031, 1, 25)) is False  # Saturday
