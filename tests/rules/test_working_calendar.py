"""The working calendar: working days, service hours, overrides and the due-date arithmetic."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml

from rules.calendar import (
    MAX_SEARCH_DAYS,
    TRIAL_START,
    CalendarError,
    Clock,
    Weekday,
    WorkingCalendar,
    load_calendar_book,
    load_calendars,
    parse_calendar,
)
from rules.config_errors import RuleConfigError

CALENDARS = load_calendars()
FRONT_DESK = CALENDARS["front_desk_24h"]
DAY_SHIFT = CALENDARS["day_shift"]
DAY_SHIFT_HOURS = {
    "on_working_days": [{"start": "08:30", "end": "12:00"}, {"start": "13:30", "end": "17:30"}]
}


def at(text: str) -> datetime:
    """Return a Shanghai wall-clock moment written as "2026-09-30 17:55"."""
    return datetime.fromisoformat(f"{text}+08:00")


def site(**fields: Any) -> WorkingCalendar:
    return parse_calendar({"name": "site", "service_hours": DAY_SHIFT_HOURS, **fields})


# --- working days ----------------------------------------------------------------------------


def test_make_up_saturday_is_a_working_day() -> None:
    assert DAY_SHIFT.is_working_day(date(2026, 10, 10)) is True  # Saturday, 调休 for National Day
    assert DAY_SHIFT.is_working_day(date(2026, 10, 17)) is False  # an ordinary Saturday
    assert DAY_SHIFT.is_working_day(date(2026, 10, 7)) is False  # Wednesday inside the holiday


def test_make_up_saturday_has_working_day_hours_on_a_day_shift() -> None:
    assert DAY_SHIFT.add_working_hours(at("2026-10-09 17:00"), 1) == at("2026-10-10 09:00")


def test_site_closure_and_extra_working_day_override_the_statutory_calendar() -> None:
    calendar = site(
        site_overrides={2026: {"closures": ["2026-08-14"], "extra_working_days": ["2026-10-03"]}}
    )

    assert calendar.is_working_day(date(2026, 8, 14)) is False  # a Friday
    assert calendar.is_working_day(date(2026, 10, 3)) is True  # National Day
    assert calendar.is_working_day(date(2026, 10, 2)) is False  # untouched holiday
    assert calendar.is_working_day(date(2026, 8, 13)) is True  # untouched Thursday


def test_six_day_week_site_works_saturdays_but_not_holidays() -> None:
    calendar = site(weekly_rest_days=["sunday"])

    assert calendar.is_working_day(date(2026, 10, 17)) is True  # Saturday
    assert calendar.is_working_day(date(2026, 10, 18)) is False  # Sunday
    assert calendar.is_working_day(date(2026, 10, 3)) is False  # National Day on a Saturday


def test_nth_working_day_counts_the_start_date_as_day_one() -> None:
    # Onboarding that starts on the last working day before National Day 2026.
    assert DAY_SHIFT.nth_working_day(date(2026, 9, 30), 1) == date(2026, 9, 30)
    assert DAY_SHIFT.nth_working_day(date(2026, 9, 30), 2) == date(2026, 10, 8)
    assert DAY_SHIFT.nth_working_day(date(2026, 9, 30), 4) == date(2026, 10, 10)
    assert DAY_SHIFT.nth_working_day(date(2026, 10, 3), 1) == date(2026, 10, 8)


# --- unknown years -----------------------------------------------------------------------------


def test_unknown_year_falls_back_and_is_reported_until_an_admin_enters_it() -> None:
    entered = site(
        official_days={
            2031: {
                "holidays": ["2031-01-22", "2031-01-23", "2031-01-24"],
                "make_up_working_days": ["2031-01-26"],
            }
        }
    )

    assert DAY_SHIFT.unknown_years(range(2025, 2032)) == [2027, 2028, 2029, 2030, 2031]
    assert DAY_SHIFT.is_working_day(date(2031, 1, 23)) is True  # fallback: only fixed dates
    assert DAY_SHIFT.is_working_day(date(2031, 10, 3)) is False  # fixed-date National Day
    assert entered.unknown_years([2031]) == []
    assert entered.is_working_day(date(2031, 1, 23)) is False
    assert entered.is_working_day(date(2031, 1, 26)) is True  # Sunday, entered as 调休


# --- working hours -----------------------------------------------------------------------------


def test_day_shift_hours_skip_lunch_and_night() -> None:
    assert DAY_SHIFT.add_working_hours(at("2026-03-02 11:00"), 2) == at("2026-03-02 14:30")
    assert DAY_SHIFT.add_working_hours(at("2026-03-02 17:00"), 1) == at("2026-03-03 09:00")


def test_hours_ending_at_close_of_service_end_at_close_not_next_morning() -> None:
    assert DAY_SHIFT.add_working_hours(at("2026-03-02 16:30"), 1) == at("2026-03-02 17:30")


def test_24_hour_site_and_day_shift_from_the_same_friday_evening() -> None:
    start = at("2025-09-26 17:55")  # Friday before a make-up Sunday and the National Day week

    assert FRONT_DESK.add_working_hours(start, 24) == at("2025-09-27 17:55")
    # Day shift: 7.5 h a working day; Sun 28 (调休), Mon 29, Tue 30, then Thu 9 October.
    assert DAY_SHIFT.add_working_hours(start, 24) == at("2025-10-09 10:00")


def test_results_are_utc_and_accept_any_aware_moment() -> None:
    due = DAY_SHIFT.add_working_hours(datetime(2026, 3, 2, 3, 0, tzinfo=UTC), timedelta(hours=1))

    assert due == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 11:00 → 12:00 Shanghai
    assert due.tzinfo is UTC


def test_naive_moment_is_refused() -> None:
    with pytest.raises(CalendarError, match="no time zone"):
        DAY_SHIFT.add_working_hours(datetime(2026, 3, 2, 9, 0), 1)


def test_next_working_start() -> None:
    assert DAY_SHIFT.next_working_start(at("2026-03-02 12:00")) == at("2026-03-02 13:30")
    assert DAY_SHIFT.next_working_start(at("2026-03-02 09:15")) == at("2026-03-02 09:15")
    assert DAY_SHIFT.next_working_start(at("2026-09-30 17:55")) == at("2026-10-08 08:30")
    assert FRONT_DESK.next_working_start(at("2026-10-03 03:00")) == at("2026-10-03 03:00")
    assert FRONT_DESK.next_working_start(at("2026-10-03 03:00"), Clock.WORKING_DAYS) == at(
        "2026-10-08 00:00"
    )


# --- working days ------------------------------------------------------------------------------


def test_seven_working_days_from_friday_evening_before_national_day_2025() -> None:
    start = at("2025-09-26 17:55")
    # Counting starts the next day: Sun 28 (调休), 29, 30, Oct 9, 10, Sat 11 (调休), Mon 13.

    assert DAY_SHIFT.add_working_days(start, 7) == at("2025-10-13 17:30")
    assert FRONT_DESK.add_working_days(start, 7) == at("2025-10-14 00:00")


def test_seven_working_days_from_the_eve_of_national_day_2026() -> None:
    start = at("2026-09-30 17:55")
    # Oct 8, 9, Sat 10 (调休), 12, 13, 14, 15.

    assert DAY_SHIFT.add_working_days(start, 7) == at("2026-10-15 17:30")


def test_working_days_ignore_the_time_of_day_of_receipt() -> None:
    assert DAY_SHIFT.add_working_days(at("2026-03-02 08:00"), 1) == at("2026-03-03 17:30")
    assert DAY_SHIFT.add_working_days(at("2026-03-02 23:59"), 1) == at("2026-03-03 17:30")


# --- working time between --------------------------------------------------------------------


def test_working_time_between_excludes_a_pause_across_the_night() -> None:
    paused = [(at("2026-03-02 20:00"), at("2026-03-03 08:00"))]

    assert FRONT_DESK.working_time_between(
        at("2026-03-02 10:00"), at("2026-03-03 10:00"), pauses=paused
    ) == timedelta(hours=12)
    assert DAY_SHIFT.working_time_between(
        at("2026-03-02 10:00"), at("2026-03-03 10:00")
    ) == timedelta(hours=7.5)


def test_24_hour_site_counts_holidays_as_hours_but_not_as_working_days() -> None:
    a, b = at("2026-10-01 00:00"), at("2026-10-08 00:00")

    assert FRONT_DESK.working_time_between(a, b) == timedelta(days=7)
    assert FRONT_DESK.working_time_between(a, b, Clock.WORKING_DAYS) == timedelta(0)


def test_working_time_between_is_zero_backwards() -> None:
    assert FRONT_DESK.working_time_between(at("2026-03-03 10:00"), at("2026-03-02 10:00")) == (
        timedelta(0)
    )


def test_add_and_between_agree() -> None:
    start = at("2025-09-26 17:55")
    due = DAY_SHIFT.add_working_hours(start, 24)

    assert DAY_SHIFT.working_time_between(start, due) == timedelta(hours=24)


# --- configuration -----------------------------------------------------------------------------


def config_problems(**fields: Any) -> list[str]:
    with pytest.raises(RuleConfigError) as caught:
        parse_calendar({"name": "bad", "service_hours": DAY_SHIFT_HOURS, **fields})
    return caught.value.problems


def test_window_ending_before_it_starts_names_the_field() -> None:
    problems = config_problems(
        service_hours={"on_working_days": [{"start": "12:00", "end": "08:30"}]}
    )

    assert problems == ["bad.service_hours.on_working_days.0: end 08:30 is not after start 12:00"]


def test_overlapping_windows_name_the_field() -> None:
    problems = config_problems(
        service_hours={
            "on_working_days": [
                {"start": "08:30", "end": "12:00"},
                {"start": "11:00", "end": "17:30"},
            ]
        }
    )

    assert problems == [
        "bad.service_hours.on_working_days: 11:00–17:30 overlaps or comes before 08:30–12:00;"
        " list windows in order without overlaps"
    ]


def test_bad_time_of_day_unknown_weekday_and_time_zone_name_their_fields() -> None:
    problems = config_problems(
        service_hours={"on_working_days": [{"start": "8:30", "end": "25:00"}]},
        weekly_rest_days=["saturday", "sonday"],
        timezone="Asia/Beijing",
    )

    assert problems[0] == "bad.timezone: unknown time zone 'Asia/Beijing'"
    assert problems[1].startswith("bad.weekly_rest_days.1: Input should be 'monday', 'tuesday'")
    assert problems[2:] == [
        "bad.service_hours.on_working_days.0.start: '8:30' is not a time of day between 00:00"
        " and 24:00",
        "bad.service_hours.on_working_days.0.end: '25:00' is not a time of day between 00:00"
        " and 24:00",
    ]


def test_override_dates_must_belong_to_their_year() -> None:
    problems = config_problems(site_overrides={2026: {"closures": ["2025-10-01"]}})

    assert problems == ["bad.site_overrides: 2026.closures: 2025-10-01 is not in 2026"]


def test_a_week_without_working_days_is_refused() -> None:
    problems = config_problems(weekly_rest_days=list(Weekday))

    assert problems == [
        "bad.weekly_rest_days: every weekday is a rest day; a week needs at least one working day"
    ]


def test_trial_calculation_catches_a_calendar_with_no_working_time() -> None:
    searched_days = [TRIAL_START.date() + timedelta(days=n) for n in range(MAX_SEARCH_DAYS + 1)]
    overrides: dict[int, dict[str, list[str]]] = {}
    for day in searched_days:
        overrides.setdefault(day.year, {"closures": []})["closures"].append(day.isoformat())

    problems = config_problems(site_overrides=overrides)

    assert problems == [
        "bad: the trial calculation from 2026-09-30T09:00:00+08:00 found no working time within"
        " 1098 days; check weekly_rest_days, site_overrides and service_hours"
    ]


# --- each site's own version -----------------------------------------------------------------


def book_with_sites(tmp_path: Any, sites: list[dict[str, Any]]) -> Any:
    path = tmp_path / "calendars.yaml"
    shared = [c.config.model_dump(mode="json") for c in CALENDARS.values()]
    path.write_text(yaml.safe_dump({"calendars": shared, "sites": sites}), encoding="utf-8")
    return load_calendar_book(path)


def test_a_site_closes_a_day_and_keeps_its_own_hours_while_others_keep_the_shared(
    tmp_path: Any,
) -> None:
    book = book_with_sites(
        tmp_path,
        [
            {
                "site": "HY02",
                "calendars": {
                    "day_shift": {
                        "service_hours": {"on_working_days": [{"start": "09:00", "end": "18:00"}]},
                        "site_overrides": {2026: {"closures": ["2026-08-14"]}},
                    }
                },
            }
        ],
    )
    own, shared = book.for_site("HY02")["day_shift"], book.for_site("HY01")["day_shift"]

    assert own.is_working_day(date(2026, 8, 14)) is False
    assert shared.is_working_day(date(2026, 8, 14)) is True
    # Its hours run to 18:00; the closed Friday and the weekend pass: Monday 10:00.
    assert own.add_working_hours(at("2026-08-13 17:00"), 2) == at("2026-08-17 10:00")
    assert shared.add_working_hours(at("2026-08-13 17:00"), 2) == at("2026-08-14 10:00")
    assert book.for_site("HY02")["front_desk_24h"] is book.shared["front_desk_24h"]


def test_a_site_version_is_checked_like_any_calendar_and_names_the_site(tmp_path: Any) -> None:
    with pytest.raises(RuleConfigError) as refused:
        book_with_sites(
            tmp_path,
            [
                {
                    "site": "HY02",
                    "calendars": {
                        "day_shift": {"site_overrides": {2026: {"closures": ["2025-01-02"]}}}
                    },
                },
                {"site": "HY03", "calendars": {"night_shift": {}}},
            ],
        )
    assert refused.value.problems == [
        "sites.HY02.day_shift.site_overrides: 2026.closures: 2025-01-02 is not in 2026"
    ]
    with pytest.raises(RuleConfigError, match="sites.HY03: unknown calendar 'night_shift'"):
        book_with_sites(tmp_path, [{"site": "HY03", "calendars": {"night_shift": {}}}])
