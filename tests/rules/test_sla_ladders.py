"""Loading, validating and looking up the SLA escalation ladders."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from rules.config_errors import RuleConfigError
from rules.sla import (
    Duration,
    PauseReason,
    TierRole,
    Urgency,
    check_pause,
    load_ladders,
    pause_reason_label,
    validate_ladder,
)

BOOK = load_ladders()
URGENT = BOOK.ladder_for("complaint", "*", Urgency.URGENT)


def urgent_row(**changes: Any) -> dict[str, Any]:
    """Return the bundled urgent complaint ladder as an admin's row, with changes."""
    return {**URGENT.model_dump(mode="json", exclude_none=True), **changes}


def problems_of(row: dict[str, Any]) -> list[str]:
    with pytest.raises(RuleConfigError) as caught:
        validate_ladder(row)
    return caught.value.problems


def test_bundled_defaults_follow_the_department_ladder() -> None:
    general = BOOK.ladder_for("complaint", "*", "general")

    assert URGENT.targets.first_response == Duration(working_hours=2)
    assert URGENT.targets.resolution == Duration(working_hours=24)
    assert general.targets.first_response == Duration(working_hours=48)
    assert general.targets.resolution == Duration(working_days=7, calendar="day_shift")
    assert [tier.role for tier in URGENT.escalation] == list(TierRole)
    assert URGENT.warning_threshold == 0.75


def test_category_falls_back_to_the_process_default() -> None:
    assert BOOK.ladder_for("complaint", "noise", "urgent").key == "complaint/*/urgent"
    assert BOOK.ladder_for("complaint", "repair", "urgent").key == "complaint/repair/urgent"
    assert BOOK.ladder_for("complaint", "repair", "general").key == "complaint/*/general"


def test_unknown_process_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="no SLA ladder for onboarding/\\*/urgent"):
        BOOK.ladder_for("onboarding", "*", "urgent")


def test_admin_override_row_replaces_the_default() -> None:
    row = urgent_row(
        category="noise",
        targets={"first_response": {"working_hours": 1}, "resolution": {"working_hours": 12}},
    )
    book = BOOK.with_overrides([validate_ladder(row)])

    assert book.ladder_for("complaint", "noise", "urgent").targets.resolution.working_hours == 12
    assert book.ladder_for("complaint", "parking", "urgent") is URGENT


def test_resolution_not_longer_than_first_response_is_refused() -> None:
    row = urgent_row(
        targets={"first_response": {"working_hours": 2}, "resolution": {"working_hours": 2}}
    )

    assert problems_of(row) == [
        "complaint/*/urgent.targets.resolution: must be longer than first_response"
        " (trial from 2026-09-30T09:00:00+08:00)"
    ]


def test_mixed_units_are_compared_on_real_dates() -> None:
    # 1 working day on the day shift from Friday 17:55 ends Sunday 28 Sep 2025 17:30 (调休),
    # before 48 wall-clock hours from the same moment.
    row = urgent_row(
        targets={
            "first_response": {"working_hours": 48},
            "resolution": {"working_days": 1, "calendar": "day_shift"},
        }
    )

    assert problems_of(row) == [
        "complaint/*/urgent.targets.resolution: must be longer than first_response"
        " (trial from 2025-09-26T17:55:00+08:00)"
    ]


def test_arrival_must_lie_between_response_and_resolution() -> None:
    row = urgent_row(
        targets={
            "first_response": {"working_hours": 2},
            "arrival": {"working_hours": 1},
            "resolution": {"working_hours": 24},
        }
    )

    assert problems_of(row) == [
        "complaint/*/urgent.targets.arrival: must not be shorter than first_response"
        " (trial from 2026-09-30T09:00:00+08:00)"
    ]


def test_arrival_must_not_come_after_resolution() -> None:
    row = urgent_row(
        targets={
            "first_response": {"working_hours": 2},
            "arrival": {"working_hours": 30},
            "resolution": {"working_hours": 24},
        }
    )

    assert problems_of(row) == [
        "complaint/*/urgent.targets.arrival: must not be longer than resolution"
        " (trial from 2026-09-30T09:00:00+08:00)"
    ]


def test_duration_needs_exactly_one_unit() -> None:
    row = urgent_row(reminder_every={"working_hours": 2, "working_days": 1})

    assert problems_of(row) == [
        "complaint/*/urgent.reminder_every: give exactly one of working_hours or working_days"
    ]


def test_chain_must_climb_in_order() -> None:
    row = urgent_row(
        escalation=[
            {"role": "staff"},
            {"role": "supervisor", "allowed": {"working_hours": 1}},
            {"role": "shift_lead", "allowed": {"working_hours": 1}},
            {"role": "quality"},
        ]
    )

    assert problems_of(row) == [
        "complaint/*/urgent.escalation: shift_lead after supervisor: roles climb in order"
        " staff → shift_lead → supervisor → site_manager → quality"
    ]


def test_unknown_role_and_missing_allowance_name_their_fields() -> None:
    unknown = urgent_row(escalation=[{"role": "staff"}, {"role": "boss"}])
    missing = urgent_row(
        escalation=[{"role": "staff"}, {"role": "shift_lead"}, {"role": "quality"}]
    )

    assert problems_of(unknown)[0].startswith(
        "complaint/*/urgent.escalation.1.role: Input should be 'staff', 'shift_lead'"
    )
    assert problems_of(missing) == [
        "complaint/*/urgent.escalation: 1.allowed: shift_lead needs the time it is allowed"
    ]


def test_top_tier_is_reminded_not_allowed_time() -> None:
    row = urgent_row(
        escalation=[{"role": "staff"}, {"role": "quality", "allowed": {"working_hours": 1}}]
    )

    assert problems_of(row) == [
        "complaint/*/urgent.escalation: 1.allowed: the top tier is reminded instead"
        " (reminder_every)"
    ]


def test_unknown_calendar_and_bad_threshold_name_their_fields() -> None:
    assert problems_of(urgent_row(calendar="night_shift")) == [
        "complaint/*/urgent.calendar: unknown calendar 'night_shift'"
        " (known: day_shift, front_desk_24h)"
    ]
    assert problems_of(urgent_row(warning_threshold=1.5)) == [
        "complaint/*/urgent.warning_threshold: Input should be less than 1"
    ]


def test_ladder_defined_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ladders.yaml"
    path.write_text(yaml.safe_dump({"ladders": [urgent_row(), urgent_row()]}), encoding="utf-8")

    with pytest.raises(RuleConfigError, match=r"^complaint/\*/urgent: ladder defined twice$"):
        load_ladders(path)


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "ladders.yaml"
    rows = [urgent_row(warning_threshold=0), urgent_row(urgency="general", calendar="nowhere")]
    path.write_text(yaml.safe_dump({"ladders": rows}), encoding="utf-8")

    with pytest.raises(RuleConfigError) as caught:
        load_ladders(path)

    assert caught.value.problems == [
        "complaint/*/urgent.warning_threshold: Input should be greater than 0",
        "complaint/*/general.calendar: unknown calendar 'nowhere'"
        " (known: day_shift, front_desk_24h)",
    ]


def test_pause_reasons_have_chinese_labels() -> None:
    assert [pause_reason_label(reason) for reason in PauseReason] == [
        "等待业主/住户",
        "等待配件",
        "等待第三方",
    ]
    assert pause_reason_label(PauseReason.WAITING_PARTS, "en") == "Waiting for parts"


def test_ladder_may_refuse_a_pause_reason() -> None:
    strict = validate_ladder(urgent_row(pause_on=["waiting_resident"]))

    check_pause(strict, PauseReason.WAITING_RESIDENT)
    with pytest.raises(ValueError, match="cannot pause for waiting_parts"):
        check_pause(strict, PauseReason.WAITING_PARTS)
