"""What the sweep is told is due: due dates, warnings, the climb and reminders, pauses excluded;
and how the sweep applies it, several tasks per transaction with a failure kept to its task."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import tasks.sweep
from db.models import Event, InboxTask, OutboxMessage
from domain import sla
from rules.calendar import load_calendars
from rules.sla import (
    ClockFacts,
    DueMoment,
    Ladder,
    PausedSpan,
    PauseReason,
    TargetKind,
    TierRole,
    due_moment,
    judge,
    load_ladders,
    sweep,
    tier_moments,
    validate_ladder,
)
from tests.support.factories import complaint_task

CALENDARS = load_calendars()
BOOK = load_ladders()
URGENT = BOOK.ladder_for("complaint", "*", "urgent")
GENERAL = BOOK.ladder_for("complaint", "*", "general")
SECOND = timedelta(seconds=1)


def at(text: str) -> datetime:
    """Return a Shanghai wall-clock moment written as "2026-09-30 17:55"."""
    return datetime.fromisoformat(f"{text}+08:00")


def due(kind: TargetKind, facts: ClockFacts, ladder: Ladder = GENERAL) -> DueMoment:
    """Return the due moment of a running (not paused) target."""
    moment = due_moment(ladder, kind, facts, CALENDARS)
    assert moment is not None
    return moment


# --- due dates around National Day ------------------------------------------------------------


def test_general_complaint_on_friday_1755_before_national_day_2025() -> None:
    facts = ClockFacts(started_at=at("2025-09-26 17:55"))

    assert due(TargetKind.FIRST_RESPONSE, facts) == DueMoment(
        at("2025-09-28 17:55"), "complaint/*/general/first_response"
    )
    # 3 working days on the day shift: Sun 28 (调休), Mon 29, Tue 30.
    assert due(TargetKind.ARRIVAL, facts) == DueMoment(
        at("2025-09-30 17:30"), "complaint/*/general/arrival"
    )
    # 7 working days: 28 (调休), 29, 30, Oct 9, 10, Sat 11 (调休), Mon 13.
    assert due(TargetKind.RESOLUTION, facts) == DueMoment(
        at("2025-10-13 17:30"), "complaint/*/general/resolution"
    )


def test_warning_for_seven_working_days_falls_on_a_make_up_saturday() -> None:
    facts = ClockFacts(started_at=at("2025-09-26 17:55"))
    # 75% of 7 × 7.5 h = 39 h 22 min 30 s; five full days give 37.5 h, Sat 11 Oct adds the rest.
    verdict = sweep(GENERAL, TargetKind.RESOLUTION, facts, at("2025-10-11 10:22:30"), CALENDARS)

    assert verdict.warning == DueMoment(
        at("2025-10-11 10:22:30"), "complaint/*/general/resolution/warning"
    )
    assert verdict.warn is True
    assert (
        sweep(
            GENERAL, TargetKind.RESOLUTION, facts, at("2025-10-11 10:22:30") - SECOND, CALENDARS
        ).warn
        is False
    )


def test_general_complaint_on_the_eve_of_national_day_2026() -> None:
    facts = ClockFacts(started_at=at("2026-09-30 17:55"))

    assert due(TargetKind.FIRST_RESPONSE, facts).at == at("2026-10-02 17:55")
    # Oct 8, 9, Sat 10 (调休).
    assert due(TargetKind.ARRIVAL, facts).at == at("2026-10-10 17:30")
    # Oct 8, 9, 10 (调休), 12, 13, 14, 15.
    assert due(TargetKind.RESOLUTION, facts).at == at("2026-10-15 17:30")


def test_24_hour_site_and_day_shift_site_for_the_same_start_and_target() -> None:
    row = URGENT.model_dump(mode="json", exclude_none=True)
    day_shift = validate_ladder({**row, "category": "lift", "calendar": "day_shift"})
    facts = ClockFacts(started_at=at("2025-09-26 17:55"))

    assert due(TargetKind.RESOLUTION, facts, URGENT).at == at("2025-09-27 17:55")
    # 7.5 working hours a day: Sun 28 (调休), 29, 30 make 22.5 h; Thu 9 Oct 08:30 + 1.5 h.
    assert due(TargetKind.RESOLUTION, facts, day_shift) == DueMoment(
        at("2025-10-09 10:00"), "complaint/lift/urgent/resolution"
    )


# --- pauses -----------------------------------------------------------------------------------


def test_pause_across_a_night_is_not_counted_at_a_24_hour_site() -> None:
    pause = PausedSpan(at("2026-03-02 18:00"), at("2026-03-03 09:00"), PauseReason.WAITING_PARTS)
    facts = ClockFacts(started_at=at("2026-03-02 10:00"), pauses=[pause])
    verdict = sweep(URGENT, TargetKind.RESOLUTION, facts, at("2026-03-03 19:00"), CALENDARS)

    # 24 h plus the 15 h pause, instead of 2026-03-03 10:00.
    assert verdict.due == DueMoment(at("2026-03-04 01:00"), "complaint/*/urgent/resolution")
    # 18 h running: 8 h before the pause, 10 h after it.
    assert verdict.warning is not None and verdict.warning.at == at("2026-03-03 19:00")
    assert verdict.warn is True


def test_pause_across_a_night_counts_only_its_service_hours_on_a_day_shift() -> None:
    pause = PausedSpan(at("2025-09-29 17:00"), at("2025-09-30 09:00"), PauseReason.WAITING_RESIDENT)
    facts = ClockFacts(started_at=at("2025-09-26 17:55"), pauses=[pause])

    # The pause covers 17:00–17:30 and 08:30–09:00: one working hour moves the due date.
    assert due(TargetKind.RESOLUTION, facts).at == at("2025-10-14 09:30")


def test_open_pause_stops_everything() -> None:
    pause = PausedSpan(at("2026-03-02 11:00"), None, PauseReason.WAITING_THIRD_PARTY)
    facts = ClockFacts(started_at=at("2026-03-02 10:00"), pauses=[pause])
    verdict = sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, at("2026-03-05 10:00"), CALENDARS)

    assert verdict.paused is True
    assert (verdict.due, verdict.warn, verdict.escalate_to, verdict.remind) == (
        None,
        False,
        None,
        False,
    )
    assert verdict.next_check_at(at("2026-03-05 10:00")) is None


# --- the climb --------------------------------------------------------------------------------

URGENT_START = at("2026-03-02 10:00")
URGENT_CLIMB = [
    (TierRole.STAFF, at("2026-03-02 12:00"), TierRole.SHIFT_LEAD),
    (TierRole.SHIFT_LEAD, at("2026-03-02 13:00"), TierRole.SUPERVISOR),
    (TierRole.SUPERVISOR, at("2026-03-02 15:00"), TierRole.SITE_MANAGER),
    (TierRole.SITE_MANAGER, at("2026-03-02 19:00"), TierRole.QUALITY),
]


def test_urgent_first_response_climbs_to_quality_tier_by_tier() -> None:
    facts = ClockFacts(started_at=URGENT_START)

    assert tier_moments(URGENT, TargetKind.FIRST_RESPONSE, facts, CALENDARS) == [
        DueMoment(moment, f"complaint/*/urgent/first_response/escalate/{upper}")
        for _, moment, upper in URGENT_CLIMB
    ]
    for holder, moment, upper in URGENT_CLIMB:
        held = ClockFacts(started_at=URGENT_START, tier=holder, warned_at=at("2026-03-02 11:30"))
        before = sweep(URGENT, TargetKind.FIRST_RESPONSE, held, moment - SECOND, CALENDARS)
        on_time = sweep(URGENT, TargetKind.FIRST_RESPONSE, held, moment, CALENDARS)

        assert before.escalate_to is None
        assert before.next_check_at(moment - SECOND) == moment
        assert on_time.escalate_to is upper


def test_judging_a_climbed_case_from_its_moments_matches_a_fresh_verdict() -> None:
    facts = ClockFacts(started_at=URGENT_START)
    for _holder, moment, upper in URGENT_CLIMB:
        first = sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, moment, CALENDARS)
        facts = ClockFacts(started_at=URGENT_START, tier=upper, escalated_at=moment)
        fresh = sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, moment, CALENDARS)

        again = judge(URGENT, TargetKind.FIRST_RESPONSE, first.moments, facts, moment, CALENDARS)

        assert again == fresh


def test_a_late_sweep_climbs_one_tier_at_a_time() -> None:
    facts = ClockFacts(started_at=URGENT_START)
    verdict = sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, at("2026-03-02 20:00"), CALENDARS)

    assert verdict.escalate_to is TierRole.SHIFT_LEAD


def test_warning_once_before_the_breach_only() -> None:
    facts = ClockFacts(started_at=URGENT_START)
    warned = ClockFacts(started_at=URGENT_START, warned_at=at("2026-03-02 11:30"))

    assert (
        sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, at("2026-03-02 11:29:59"), CALENDARS).warn
        is False
    )
    assert (
        sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, at("2026-03-02 11:30"), CALENDARS).warn
        is True
    )
    assert (
        sweep(URGENT, TargetKind.FIRST_RESPONSE, warned, at("2026-03-02 11:45"), CALENDARS).warn
        is False
    )
    assert (
        sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, at("2026-03-02 12:00"), CALENDARS).warn
        is False
    )


def test_general_climb_waits_for_day_shift_hours_and_skips_the_holiday_week() -> None:
    facts = ClockFacts(started_at=at("2025-09-26 17:55"))

    assert [m.at for m in tier_moments(GENERAL, TargetKind.FIRST_RESPONSE, facts, CALENDARS)] == [
        at("2025-09-28 17:55"),  # shift lead: the 48 h response is missed (Sunday, 调休)
        at("2025-09-29 14:00"),  # supervisor: 4 day-shift hours, starting Monday 08:30
        at("2025-09-30 17:30"),  # site manager: end of service on the next working day
        at("2025-10-10 17:30"),  # quality: 2 working days, the holiday week skipped
    ]


def test_chain_with_skipped_tiers_starts_from_the_case_tier() -> None:
    row = URGENT.model_dump(mode="json", exclude_none=True)
    short = validate_ladder(
        {
            **row,
            "category": "parking",
            "escalation": [
                {"role": "staff"},
                {"role": "supervisor", "allowed": {"working_hours": 1}},
                {"role": "quality"},
            ],
        }
    )
    facts = ClockFacts(started_at=URGENT_START, tier=TierRole.SHIFT_LEAD)
    verdict = sweep(short, TargetKind.FIRST_RESPONSE, facts, at("2026-03-02 12:00"), CALENDARS)

    assert verdict.escalate_to is TierRole.SUPERVISOR


# --- reminders at the top tier ------------------------------------------------------------------


def test_top_tier_is_reminded_at_the_interval() -> None:
    reached = at("2026-03-02 19:00")
    facts = ClockFacts(started_at=URGENT_START, tier=TierRole.QUALITY, escalated_at=reached)
    first = sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, at("2026-03-02 20:59:59"), CALENDARS)
    second = sweep(URGENT, TargetKind.FIRST_RESPONSE, facts, at("2026-03-02 21:00"), CALENDARS)
    reminded = ClockFacts(
        started_at=URGENT_START,
        tier=TierRole.QUALITY,
        escalated_at=reached,
        reminded_at=at("2026-03-02 21:00"),
    )
    third = sweep(URGENT, TargetKind.FIRST_RESPONSE, reminded, at("2026-03-02 22:00"), CALENDARS)

    assert (first.remind, first.escalate_to) == (False, None)
    assert second.next_reminder == DueMoment(
        at("2026-03-02 21:00"), "complaint/*/urgent/first_response/remind"
    )
    assert second.remind is True
    assert third.next_reminder is not None and third.next_reminder.at == at("2026-03-02 23:00")
    assert third.remind is False


def test_top_tier_hears_of_a_new_breach_at_once() -> None:
    # The case reached quality over its first response; now resolution is missed too.
    facts = ClockFacts(
        started_at=URGENT_START,
        tier=TierRole.QUALITY,
        escalated_at=at("2026-03-02 19:00"),
        reminded_at=at("2026-03-02 23:00"),
    )
    before = sweep(URGENT, TargetKind.RESOLUTION, facts, at("2026-03-03 09:59:59"), CALENDARS)
    breach = sweep(URGENT, TargetKind.RESOLUTION, facts, at("2026-03-03 10:00"), CALENDARS)

    assert before.remind is False
    assert breach.next_reminder == DueMoment(
        at("2026-03-03 10:00"), "complaint/*/urgent/resolution/remind"
    )
    assert breach.remind is True


def test_general_reminders_come_once_a_working_day() -> None:
    facts = ClockFacts(
        started_at=at("2025-09-26 17:55"),
        tier=TierRole.QUALITY,
        escalated_at=at("2025-10-10 17:30"),
    )
    verdict = sweep(GENERAL, TargetKind.FIRST_RESPONSE, facts, at("2025-10-11 17:30"), CALENDARS)

    # End of service on the next working day, the make-up Saturday.
    assert verdict.next_reminder is not None
    assert verdict.next_reminder.at == at("2025-10-11 17:30")
    assert verdict.remind is True


# --- the sweep's batches ----------------------------------------------------------------------

CST = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2025, 9, 26, 17, 55, tzinfo=CST)
# Urgent first response: 2 h around the clock; the sweep takes the earliest received first.
BREACH = RECEIVED + timedelta(hours=2, minutes=3)


def received_in_turn(session: Session, count: int) -> list[InboxTask]:
    """Open `count` urgent complaint tasks received a minute apart, all overdue at BREACH."""
    return [complaint_task(session, RECEIVED + timedelta(minutes=i)) for i in range(count)]


@pytest.fixture
def sweep_in_test_session(session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """Make each sweep transaction, reads too, a savepoint of the test's session, rolled back."""

    @contextmanager
    def savepoint() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    monkeypatch.setattr(tasks.sweep, "transaction", savepoint)
    monkeypatch.setattr(tasks.sweep, "reading", savepoint)
    monkeypatch.setattr(tasks.sweep, "CLOCK_BATCH", 2)
    return session


def escalations(session: Session, task: InboxTask) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.task_id == task.id, Event.kind == "task_escalated")
        )
        or 0
    )


def test_a_batch_escalates_each_task_once_and_a_second_sweep_changes_nothing(
    sweep_in_test_session: Session,
) -> None:
    session = sweep_in_test_session
    overdue = received_in_turn(session, 3)

    assert tasks.sweep.check_sla_clocks.fn(BREACH)["escalated"] == 3
    messages = session.scalar(select(func.count()).select_from(OutboxMessage))

    assert [escalations(session, task) for task in overdue] == [1, 1, 1]
    assert all(task.tier == "shift_lead" for task in overdue)
    # Each escalation tells the shift lead and the owner of record, as one task at a time did.
    for task in overdue:
        told = session.scalars(
            select(OutboxMessage.recipient_id).where(
                OutboxMessage.task_id == task.id, OutboxMessage.event == "task_escalated"
            )
        ).all()
        assert len(told) == 2
    assert tasks.sweep.check_sla_clocks.fn(BREACH)["escalated"] == 0
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == messages


def test_a_failing_task_is_replayed_alone_and_the_tasks_before_it_are_kept(
    sweep_in_test_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = sweep_in_test_session
    first, failing, third = received_in_turn(session, 3)
    judge = sla.verdict

    def verdict_failing_on_one_task(
        task: InboxTask, now: datetime, earlier: sla.SweepVerdict | None = None
    ) -> sla.SweepVerdict | None:
        if task.id == failing.id:
            raise RuntimeError("unreadable ladder")
        return judge(task, now, earlier)

    monkeypatch.setattr(sla, "verdict", verdict_failing_on_one_task)

    # The batch (first, failing) rolls back; replayed one by one, the first task is escalated
    # and the failing one raises as it did when every task had its own transaction.
    with pytest.raises(RuntimeError, match="unreadable ladder"):
        tasks.sweep.check_sla_clocks.fn(BREACH)

    assert [escalations(session, task) for task in (first, failing, third)] == [1, 0, 0]
    session.expire_all()
    assert session.get_one(InboxTask, first.id).tier == "shift_lead"
    assert session.get_one(InboxTask, failing.id).tier == "staff"
