"""The training plan's rules: deadlines on the working calendar, cadences, fitness to submit."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from forms.training_plan import PlanDocument
from rules.config_errors import RuleConfigError
from rules.sla import ClockFacts, TargetKind, due_moment, load_ladders
from rules.training_plan import (
    AnnualDeadlines,
    Cadence,
    MonthDay,
    PlanKind,
    TrainingPlanPolicy,
    assessment_window,
    clock_start,
    expand_cadence,
    load_policy,
    next_period,
    plan_deadlines,
    plan_period,
    plan_problems,
    policy_calendar,
    working_days_after,
)

POLICY = load_policy()
CALENDAR = policy_calendar(POLICY)


def deadlines(kind: PlanKind, year: int, month: int | None = None, policy=POLICY):
    return plan_deadlines(policy, CALENDAR, plan_period(kind, year, month))


# --- deadlines -----------------------------------------------------------------------------


def test_annual_plan_drafted_by_december_10_and_approved_by_december_20() -> None:
    due = deadlines(PlanKind.ANNUAL, 2027)
    assert due.draft_due_on == date(2026, 12, 10)  # a Thursday
    # December 20, 2026 is a Sunday: the approval is due the Friday before.
    assert due.approval_due_on == date(2026, 12, 18)
    # Drafting opens ten working days before the draft is due.
    assert due.opens_on == date(2026, 11, 26)


def test_annual_draft_deadline_configurable_to_december_15() -> None:
    policy = POLICY.model_copy(
        update={"annual": AnnualDeadlines(draft_by=MonthDay(month=12, day=15))}
    )
    assert deadlines(PlanKind.ANNUAL, 2027, policy=policy).draft_due_on == date(2026, 12, 15)


def test_rest_day_deadline_may_move_later_instead() -> None:
    policy = POLICY.model_copy(update={"deadline_on_rest_day": "later"})
    assert deadlines(PlanKind.ANNUAL, 2027, policy=policy).approval_due_on == date(2026, 12, 21)


def test_monthly_plan_for_february_is_due_in_january() -> None:
    due = deadlines(PlanKind.MONTHLY, 2026, 2)
    # January 25, 2026 is a Sunday: the draft is due on Friday the 23rd; the 30th is a Friday.
    assert (due.draft_due_on, due.approval_due_on) == (date(2026, 1, 23), date(2026, 1, 30))


def test_monthly_plan_drafted_in_february_is_approved_by_its_last_day() -> None:
    # The March plan: February has no 30th, so the approval is due on the 28th, a Saturday that
    # is a make-up working day in 2026 (Spring Festival), so it stays.
    due = deadlines(PlanKind.MONTHLY, 2026, 3)
    assert (due.draft_due_on, due.approval_due_on) == (date(2026, 2, 25), date(2026, 2, 28))
    assert CALENDAR.is_working_day(date(2026, 2, 28))
    # In a leap year the last day is the 29th.
    assert deadlines(PlanKind.MONTHLY, 2028, 3).approval_due_on == date(2028, 2, 29)


def test_deadline_on_a_holiday_moves_to_the_working_day_before() -> None:
    # September 25, 2026 is the Mid-Autumn Festival.
    assert not CALENDAR.is_working_day(date(2026, 9, 25))
    assert deadlines(PlanKind.MONTHLY, 2026, 10).draft_due_on == date(2026, 9, 24)


def test_next_period_is_next_month_or_next_year() -> None:
    assert next_period(PlanKind.MONTHLY, date(2026, 12, 18)) == plan_period(
        PlanKind.MONTHLY, 2027, 1
    )
    assert next_period(PlanKind.ANNUAL, date(2026, 11, 26)).label == "2027"


def test_assessment_within_the_first_five_working_days_of_the_next_month() -> None:
    # After September 2026 the National Day week comes first.
    first, last = assessment_window(POLICY, CALENDAR, plan_period(PlanKind.MONTHLY, 2026, 9))
    assert first == date(2026, 10, 8)
    working = [
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if CALENDAR.is_working_day(first + timedelta(days=n))
    ]
    assert len(working) == POLICY.assessment_working_days and working[-1] == last


def test_sla_clock_started_by_the_rules_is_due_at_the_deadline() -> None:
    ladder = load_ladders().ladder_for("training_plan", "draft", "general")
    deadline = date(2026, 12, 10)
    target = ladder.targets.resolution.working_days
    assert target is not None
    started = clock_start(CALENDAR, deadline, target)
    due = due_moment(
        ladder, TargetKind.RESOLUTION, ClockFacts(started_at=started), {CALENDAR.name: CALENDAR}
    )
    assert due is not None and due.at == CALENDAR.end_of_service(deadline)


def test_policy_refuses_a_draft_due_after_the_approval(tmp_path: Path) -> None:
    bad = tmp_path / "training_plan.yaml"
    bad.write_text("monthly: {draft_by_day: 30, approve_by_day: 25}\n", encoding="utf-8")
    with pytest.raises(RuleConfigError, match="draft is due before the approval"):
        load_policy(bad)


def test_policy_lists_the_recurring_training_of_the_sources() -> None:
    cadences = {c.key: c for c in POLICY.cadences}
    assert cadences["service-awareness"].cadence is Cadence.WEEKLY
    assert cadences["etiquette"].cadence is Cadence.THRICE_PER_TWO_WEEKS
    assert cadences["fire-safety"].cadence is Cadence.QUARTERLY
    assert cadences["property-law"].min_hours == 2
    assert cadences["safety"].min_hours == 1.5
    assert isinstance(TrainingPlanPolicy.model_validate({}), TrainingPlanPolicy)


# --- cadences ------------------------------------------------------------------------------


FEBRUARY_2026 = (date(2026, 2, 1), date(2026, 2, 28))


def test_weekly_training_skips_the_spring_festival_week() -> None:
    # Feb 16–22 is all holiday; Feb 23 too, so that week's session is on Tuesday the 24th.
    assert expand_cadence(CALENDAR, Cadence.WEEKLY, *FEBRUARY_2026) == [
        date(2026, 2, 2),
        date(2026, 2, 9),
        date(2026, 2, 24),
    ]


def test_three_times_per_two_weeks_spread_over_the_working_days() -> None:
    days = expand_cadence(CALENDAR, Cadence.THRICE_PER_TWO_WEEKS, *FEBRUARY_2026)
    # Feb 9–22 has six working days (the make-up Saturday the 14th included): 9th, 11th, 13th.
    assert days == [
        date(2026, 2, 3),
        date(2026, 2, 9),
        date(2026, 2, 11),
        date(2026, 2, 13),
        date(2026, 2, 24),
        date(2026, 2, 27),
    ]
    june = expand_cadence(
        CALENDAR, Cadence.THRICE_PER_TWO_WEEKS, date(2026, 6, 1), date(2026, 6, 30)
    )
    assert all(CALENDAR.is_working_day(day) for day in june)
    assert len(june) == 7


def test_monthly_and_quarterly_on_the_first_working_day() -> None:
    year = (date(2026, 1, 1), date(2026, 12, 31))
    monthly = expand_cadence(CALENDAR, Cadence.MONTHLY, *year)
    assert len(monthly) == 12
    # January 1–3 is New Year; Sunday the 4th is a make-up working day.
    assert monthly[0] == date(2026, 1, 4)
    assert expand_cadence(CALENDAR, Cadence.QUARTERLY, *year) == [
        date(2026, 1, 4),
        date(2026, 4, 1),
        date(2026, 7, 1),
        date(2026, 10, 8),
    ]
    assert len(expand_cadence(CALENDAR, Cadence.HALF_YEARLY, *year)) == 2
    assert len(expand_cadence(CALENDAR, Cadence.YEARLY, *year)) == 1


def test_monthly_plans_neither_repeat_nor_drop_a_quarterly_session() -> None:
    per_month = [
        day
        for month in range(1, 13)
        for day in expand_cadence(
            CALENDAR,
            Cadence.QUARTERLY,
            plan_period(PlanKind.MONTHLY, 2026, month).starts_on,
            plan_period(PlanKind.MONTHLY, 2026, month).ends_on,
        )
    ]
    assert per_month == expand_cadence(
        CALENDAR, Cadence.QUARTERLY, date(2026, 1, 1), date(2026, 12, 31)
    )


# --- fitness to submit ---------------------------------------------------------------------


def complete_document(**overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "title": "2026年2月培训计划",
        "compliance_confirmed": True,
        "items": [
            {
                "topic": "投诉处理",
                "attendee_roles": ["staff"],
                "trainer_id": 3,
                "method": "lecture",
                "hours": 1.5,
                "sessions": [{"starts_at": "2026-02-03T14:00:00+08:00"}],
                "assessment_criteria": "笔试 60 分及格",
            },
            {
                "topic": "服务意识",
                "attendee_ids": [1, 2],
                "trainer_id": 3,
                "method": "lecture",
                "hours": 1,
                "cadence": "weekly",
                "recurring_key": "service-awareness",
                "session_time": "09:00",
                "assessment_criteria": "现场抽查",
            },
        ],
        "budget": [{"category": "venue", "description": "会议室", "amount": "0"}],
    }
    document.update(overrides)
    return document


def problems(document: dict[str, object]) -> dict[str, str]:
    found = plan_problems(
        PlanDocument.model_validate(document),
        plan_period(PlanKind.MONTHLY, 2026, 2),
        POLICY,
        CALENDAR.zone,
    )
    return {".".join(str(part) for part in p.loc): p.message.format(**p.params) for p in found}


def test_complete_plan_has_no_problems() -> None:
    assert problems(complete_document()) == {}


def test_every_problem_is_named_at_its_field() -> None:
    document = complete_document(
        compliance_confirmed=False,
        items=[
            {"topic": "", "sessions": []},
            {
                "topic": "法规",
                "attendee_roles": ["staff"],
                "trainer_id": 3,
                "method": "lecture",
                "hours": 1,
                "recurring_key": "property-law",
                "cadence": "monthly",
                "assessment_criteria": "笔试",
            },
            {
                "topic": "礼仪",
                "attendee_ids": [1],
                "trainer_id": 3,
                "method": "practice",
                "hours": 1,
                "assessment_criteria": "实操",
                "sessions": [{}, {"starts_at": "2026-03-02T09:00:00+08:00"}],
            },
        ],
        budget=[{"category": "trainer", "description": "外请讲师"}],
    )
    assert problems(document) == {
        "compliance_confirmed": "Confirm that the plan complies with the laws and regulations",
        "items.0.topic": "Give the topic of the training",
        "items.0.attendee_ids": "The scope is empty: name who attends",
        "items.0.trainer_id": "Name the trainer",
        "items.0.method": "Choose the training method",
        "items.0.hours": "Give the hours of each session",
        "items.0.assessment_criteria": "Give the assessment criteria",
        "items.0.sessions": "A one-off item needs its sessions with dates and times",
        "items.1.hours": "物业管理法规 takes at least 2 hours",
        "items.1.session_time": "A recurring item needs the time of day of its sessions",
        "items.2.sessions.0.starts_at": "A session needs a date and a time",
        "items.2.sessions.1.starts_at": (
            "The session on 2026-03-02 is outside the plan's period 2026-02-01 to 2026-02-28"
        ),
        "budget.0.amount": "A budget line needs an amount",
    }


def test_empty_plan_needs_items_and_a_budget() -> None:
    assert problems(complete_document(items=[], budget=[])) == {
        "items": "A plan needs at least one training item",
        "budget": "A plan needs a budget: trainer, venue, materials and money",
    }


def test_session_date_is_the_site_date() -> None:
    # 23:30 UTC on Jan 31 is 07:30 on Feb 1 in Shanghai: inside the February plan.
    late = datetime.combine(date(2026, 1, 31), time(23, 30), tzinfo=UTC).isoformat()
    document = complete_document()
    document["items"][0]["sessions"] = [{"starts_at": late}]  # type: ignore[index]
    assert problems(document) == {}


def test_a_revision_and_the_analysis_are_due_their_working_days_later() -> None:
    # From Friday 25 September 2026: the 28th to the 30th work, 1–7 October is the holiday week.
    friday = date(2026, 9, 25)
    assert working_days_after(CALENDAR, friday, POLICY.revision_working_days) == date(2026, 9, 29)
    assert working_days_after(CALENDAR, friday, POLICY.analysis_working_days) == date(2026, 10, 9)


def test_a_session_is_recorded_by_the_end_of_the_next_working_day() -> None:
    ladder = load_ladders().ladder_for("training_plan", "session", "general")
    # On the eve of the holiday week: the next working day is 8 October.
    starts = datetime.fromisoformat("2026-09-30T14:00:00+08:00")
    due = due_moment(
        ladder, TargetKind.RESOLUTION, ClockFacts(started_at=starts), {CALENDAR.name: CALENDAR}
    )
    assert due is not None and due.at == CALENDAR.end_of_service(date(2026, 10, 8))
