"""The resignation timetable: account closing, follow-up day, policy validation."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from rules.calendar import load_calendars
from rules.config_errors import RuleConfigError
from rules.resignation import (
    DEFAULT_FOLLOW_UP_DAYS,
    due_after,
    follow_up_day,
    follow_up_opens_at,
    load_policy,
    offboard_at,
)

DAY_SHIFT = load_calendars()["day_shift"]


def test_bundled_policy_has_the_standard_follow_up_period() -> None:
    assert load_policy().follow_up_days == DEFAULT_FOLLOW_UP_DAYS == 30


def test_account_closes_at_midnight_after_the_last_working_day_beijing_time() -> None:
    assert offboard_at(DAY_SHIFT, date(2026, 9, 30)) == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)


def test_follow_up_lands_on_a_working_day_after_the_national_day_week() -> None:
    # 2026-09-01 + 30 days is 1 October: National Day week; the next working day is 8 October.
    assert follow_up_day(DAY_SHIFT, date(2026, 9, 1), 30) == date(2026, 10, 8)
    # Service starts 08:30 Beijing time.
    assert follow_up_opens_at(DAY_SHIFT, date(2026, 9, 1), 30) == datetime(
        2026, 10, 8, 0, 30, tzinfo=UTC
    )


def test_follow_up_on_a_working_day_opens_that_day() -> None:
    assert follow_up_day(DAY_SHIFT, date(2026, 9, 1), 7) == date(2026, 9, 8)


def test_a_custom_period_is_validated(tmp_path: Path) -> None:
    def policy_file(name: str, text: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    assert load_policy(policy_file("longer", "follow_up_days: 45\n")).follow_up_days == 45
    with pytest.raises(RuleConfigError, match="follow_up_days"):
        load_policy(policy_file("zero", "follow_up_days: 0\n"))
    with pytest.raises(RuleConfigError, match="unknown calendar"):
        load_policy(policy_file("nowhere", "calendar: nowhere\n"))


def test_each_handover_step_is_due_its_working_days_after_it_opens() -> None:
    # Monday 16 November 2026, 10:00 in Beijing; due when day-shift service ends (17:30).
    opened = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
    policy = load_policy()
    due = {
        key: due_after(DAY_SHIFT, opened, getattr(policy, key))
        for key in (
            "approval_working_days",
            "inventory_working_days",
            "confirmation_working_days",
            "dispute_working_days",
            "knowledge_session_working_days",
            "evaluation_working_days",
        )
    }
    end_of_service = {day: datetime(2026, 11, day, 9, 30, tzinfo=UTC) for day in (17, 18, 19, 23)}
    assert due == {
        "approval_working_days": end_of_service[18],
        "inventory_working_days": end_of_service[19],
        "confirmation_working_days": end_of_service[18],
        "dispute_working_days": end_of_service[18],
        "knowledge_session_working_days": end_of_service[17],
        "evaluation_working_days": end_of_service[23],
    }
