"""Onboarding rules: the training week on the calendar, exam scoring, the penalty ladder and its
variants, the trainer's pass-rate targets, and the exam form's ranges."""

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.errors import Invalid
from domain.validation import validate_form
from forms.onboarding import ExamScore, MentorShiftReport
from inbox.api.errors import error_body
from rules.calendar import load_calendars
from rules.config_errors import RuleConfigError
from rules.onboarding import (
    FailAction,
    LearnerResult,
    OnboardingPolicy,
    TargetStatus,
    cohort_pass_rates,
    exam_day,
    exam_total,
    fail_consequence,
    load_policy,
    parse_policy,
    passes,
    training_schedule,
)

DAY_SHIFT = load_calendars()["day_shift"]
POLICY = load_policy()
# The 2026 National Day week: Oct 1–7 off, Saturday Oct 10 a make-up working day.
NATIONAL_DAY_START = date(2026, 9, 28)


def at(text: str) -> datetime:
    """Return a Shanghai wall-clock moment written as "2026-09-30 08:30"."""
    return datetime.fromisoformat(f"{text}+08:00")


def test_bundled_policy_is_the_rule_book_default() -> None:
    assert POLICY == OnboardingPolicy()
    assert POLICY.pass_mark == 60
    assert POLICY.exam_working_day == 7
    assert not POLICY.strict
    assert [r.points for r in POLICY.fail_ladder] == [-3, -6, -10]
    assert POLICY.trainer_targets == [0.90, 0.95, 1.00]
    assert POLICY.mentor_days == [5, 6]


def test_training_days_skip_the_national_holiday_and_use_the_make_up_saturday() -> None:
    schedule = training_schedule(POLICY, DAY_SHIFT, NATIONAL_DAY_START)
    assert [d.on for d in schedule] == [
        date(2026, 9, 28),
        date(2026, 9, 29),
        date(2026, 9, 30),
        date(2026, 10, 8),
        date(2026, 10, 9),
        date(2026, 10, 10),
    ]
    assert [d.with_mentor for d in schedule] == [False] * 4 + [True] * 2
    fourth = schedule[3]
    assert fourth.available_from == at("2026-10-08 08:30")
    assert fourth.due_at == at("2026-10-08 17:30")
    assert exam_day(POLICY, DAY_SHIFT, NATIONAL_DAY_START) == date(2026, 10, 12)


def test_a_start_on_a_rest_day_begins_on_the_next_working_day() -> None:
    saturday = date(2026, 11, 28)
    assert training_schedule(POLICY, DAY_SHIFT, saturday)[0].on == date(2026, 11, 30)


def test_variant_puts_the_theory_exam_on_the_tenth_working_day() -> None:
    late_exam = POLICY.model_copy(update={"exam_working_day": 10})
    assert exam_day(late_exam, DAY_SHIFT, NATIONAL_DAY_START) == date(2026, 10, 15)


def test_exam_total_and_pass_mark() -> None:
    assert exam_total(50, 10) == 60
    assert passes(POLICY, exam_total(50, 10))
    assert not passes(POLICY, exam_total(50, 9))
    assert passes(POLICY.model_copy(update={"pass_mark": 80}), 80)
    with pytest.raises(ValueError):
        exam_total(91, 0)
    with pytest.raises(ValueError):
        exam_total(0, 11)


def test_penalty_ladder_minus_3_minus_6_minus_10_then_dismissal_decision() -> None:
    consequences = [fail_consequence(POLICY, n) for n in (1, 2, 3, 4)]
    assert [c.points for c in consequences] == [-3, -6, -10, 0]
    assert [c.action for c in consequences] == [
        FailAction.RETRAIN,
        FailAction.RETRAIN,
        FailAction.FINAL_CHANCE,
        FailAction.DISMISSAL_DECISION,
    ]
    assert consequences[2].final_deadline_working_days == 5


def test_strict_variant_sends_the_first_fail_to_the_dismissal_decision() -> None:
    strict = parse_policy({"strict": True})
    first = fail_consequence(strict, 1)
    assert first.action is FailAction.DISMISSAL_DECISION
    assert first.points == 0


def test_after_one_more_chance_a_fail_goes_back_to_the_site_manager() -> None:
    again = fail_consequence(POLICY, 1, after_reprieve=True)
    assert again.action is FailAction.DISMISSAL_DECISION


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"exam_working_day": 6}, "exam_working_day"),
        ({"trainer_targets": [0.95, 0.9]}, "trainer_targets"),
        ({"fail_ladder": [{"points": 3}]}, "fail_ladder.0.points"),
        (
            {"fail_ladder": [{"points": -3, "final_deadline_working_days": 5}, {"points": -6}]},
            "fail_ladder",
        ),
        ({"training_days": [{"day": 2, "topic": "x"}]}, "training_days"),
        ({"pass_mark": 101}, "pass_mark"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleConfigError) as refused:
        parse_policy(change)
    assert field in str(refused.value)


def test_policy_file_errors_name_the_file_field(tmp_path: Path) -> None:
    path = tmp_path / "onboarding.yaml"
    path.write_text("pass_mark: zero\n", encoding="utf-8")
    with pytest.raises(RuleConfigError, match="onboarding.pass_mark"):
        load_policy(path)


def learners(*results: tuple[int, int | None] | tuple[int, int | None, bool]) -> list[Any]:
    return [LearnerResult(*r) for r in results]


def test_cohort_pass_rate_meets_90_percent_on_the_first_attempt() -> None:
    cohort = learners(*[(1, 1)] * 9, (1, None))
    first, second, third = cohort_pass_rates(cohort, POLICY.trainer_targets)
    assert (first.rate, first.status) == (0.9, TargetStatus.MET)
    # The one who failed has not sat the retake yet: attempt 2 is not judged.
    assert second.status is TargetStatus.PENDING
    assert third.status is TargetStatus.PENDING


def test_cohort_pass_rate_misses_and_counts_leavers_as_not_passed() -> None:
    cohort = learners((1, 1), (2, 2), (1, None, True), (2, None))
    first, second, third = cohort_pass_rates(cohort, POLICY.trainer_targets)
    assert (first.passed, first.status) == (1, TargetStatus.MISSED)
    assert (second.passed, second.rate, second.status) == (2, 0.5, TargetStatus.MISSED)
    assert third.status is TargetStatus.PENDING


def test_an_empty_cohort_is_pending() -> None:
    assert all(r.status is TargetStatus.PENDING for r in cohort_pass_rates([], [0.9]))


# --- forms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"theory": 91, "discipline": 5}, "theory", "理论成绩: 不能大于 90"),
        ({"theory": -1, "discipline": 5}, "theory", "理论成绩: 不能小于 0"),
        ({"theory": 80, "discipline": 11}, "discipline", "培训纪律分: 不能大于 10"),
        ({"theory": 80}, "discipline", "培训纪律分: 必填"),
    ],
)
def test_exam_scores_out_of_range_are_refused_in_chinese(
    payload: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        validate_form(ExamScore, payload)
    fields = error_body(refused.value, "zh_CN")["error"]["fields"]
    assert {"field": field, "label": message.split(":")[0], "message": message} in fields


def test_the_mentor_must_write_notes() -> None:
    with pytest.raises(Invalid) as refused:
        validate_form(MentorShiftReport, {"notes": ""})
    assert refused.value.problems[0].loc == ("notes",)
