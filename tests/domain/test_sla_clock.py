"""SLA clocks on real tasks: due times from the calendar, warnings, the climb, reminders, pauses;
and the due time of a task no ladder runs, told once when it passes."""

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import domain.calendars
from db.models import Event, InboxTask, OutboxMessage, ProcessKind
from domain import inbox, sla
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.inbox import announce
from domain.steps import HumanRequest
from flows.catalog import STEPS
from flows.complaint import RESOLUTION
from flows.onboarding import TRAINING_DAY
from launch.demo import DEMO_SITE_CODE
from rules.calendar import CalendarBook, SiteCalendarChange, load_calendars, site_version
from tests.support.factories import case, complaint_task, person

CST = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """Return a Beijing wall-clock moment, e.g. at("2025-09-26 17:55")."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def sweep(session: Session, task: InboxTask, now: datetime) -> list[str]:
    return sla.apply_clock(session, task.id, now, STEPS)


def outbox_for(session: Session, task: InboxTask, username: str, event: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.task_id == task.id,
                OutboxMessage.recipient_id == person(session, username).id,
                OutboxMessage.event == event,
            )
        )
        or 0
    )


def test_urgent_complaint_climbs_tier_by_tier_to_quality(session: Session) -> None:
    # Friday 17:55 before the 2025 National Day week; urgent runs around the clock.
    task = complaint_task(session, at("2025-09-26 17:55"))
    assert task.due_at == at("2025-09-26 19:55")
    assert task.sla_rule == "complaint/*/urgent/first_response"

    assert sweep(session, task, at("2025-09-26 19:24")) == []
    assert sweep(session, task, at("2025-09-26 19:25")) == ["warned"]
    assert outbox_for(session, task, "zhangmin", "task_due_soon") == 1

    climb = [
        ("2025-09-26 19:55", "shift_lead", "lihua"),
        ("2025-09-26 20:55", "supervisor", "zhaolei"),
        ("2025-09-26 22:55", "site_manager", "chenjing"),
        ("2025-09-27 02:55", "quality", "zhoupin"),
    ]
    for moment, role, holder in climb:
        assert sweep(session, task, at(moment) - timedelta(minutes=1)) == []
        assert sweep(session, task, at(moment)) == [f"escalated:{role}"]
        assert (task.tier, task.candidate_role, task.assignee_id) == (role, role, None)
        assert task.owner_of_record_id == person(session, "zhangmin").id
        assert outbox_for(session, task, holder, "task_escalated") == 1

    # The owner of record hears of every step of the climb.
    assert outbox_for(session, task, "zhangmin", "task_escalated") == 4
    escalations = session.scalars(
        select(Event).where(Event.task_id == task.id, Event.kind == "task_escalated")
    ).all()
    assert [e.data["to_role"] for e in escalations] == [role for _, role, _ in climb]
    assert escalations[0].data["from_user_id"] == person(session, "zhangmin").id
    assert [e.at for e in escalations] == [at(m) for m, _, _ in climb]

    # At the top the quality department is reminded every 2 hours, not on every sweep.
    assert sweep(session, task, at("2025-09-27 04:54")) == []
    assert sweep(session, task, at("2025-09-27 04:55")) == ["reminded"]
    assert sweep(session, task, at("2025-09-27 05:30")) == []
    assert sweep(session, task, at("2025-09-27 06:55")) == ["reminded"]


def test_a_second_sweep_of_the_same_minute_changes_nothing(session: Session) -> None:
    task = complaint_task(session, at("2025-09-26 17:55"))
    assert sweep(session, task, at("2025-09-26 19:55")) == ["escalated:shift_lead"]
    events = session.scalar(select(func.count()).select_from(Event)) or 0
    messages = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0

    assert sweep(session, task, at("2025-09-26 19:55")) == []

    assert session.scalar(select(func.count()).select_from(Event)) == events
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == messages
    assert sla.due_for_check(session, at("2025-09-26 19:55"), 10) == []


def test_general_complaint_received_before_the_holiday_week(session: Session) -> None:
    # General: respond within 48 h around the clock; resolve within 7 working days (day shift).
    received = at("2025-09-26 17:55")
    response = complaint_task(session, received, urgency="general")
    assert response.due_at == at("2025-09-28 17:55")
    resolution = complaint_task(session, received, urgency="general", step=RESOLUTION)
    # Sep 28 (Sun) and Oct 11 (Sat) are make-up working days; Oct 1–8 are the holiday.
    assert resolution.due_at == at("2025-10-13 17:30")
    assert resolution.sla_rule == "complaint/*/general/resolution"


def test_paused_night_is_not_counted(session: Session) -> None:
    received = at("2025-10-13 09:00")
    task = complaint_task(session, received, urgency="general", step=RESOLUTION)
    due_before = task.due_at
    assert due_before == at("2025-10-22 17:30")
    staff = person(session, "zhangmin")

    sla.pause_clock(
        session, staff, task.id, "waiting_parts", "等待水泵配件", at("2025-10-14 17:00")
    )
    assert sweep(session, task, at("2025-10-22 17:30")) == []  # paused: nothing is due
    sla.resume_clock(session, staff, task.id, at("2025-10-15 09:00"))

    # Paused 17:00–17:30 and 08:30–09:00 of working time: one working hour is added.
    assert task.due_at == at("2025-10-23 09:30")
    kinds = session.scalars(
        select(Event.kind).where(Event.task_id == task.id).order_by(Event.id)
    ).all()
    assert kinds[-2:] == ["sla_paused", "sla_resumed"]


def test_pausing_is_for_the_holder_and_for_listed_reasons_only(session: Session) -> None:
    task = complaint_task(session, at("2025-10-13 09:00"), urgency="general")
    staff, other = person(session, "zhangmin"), person(session, "wangqiang")
    now = at("2025-10-13 10:00")

    with pytest.raises(Invalid) as refused:
        sla.pause_clock(session, staff, task.id, "lunch", "", now)
    assert refused.value.problems[0].loc == ("reason",)
    with pytest.raises(Forbidden):
        sla.pause_clock(session, person(session, "lihua"), task.id, "waiting_resident", "", now)
    with pytest.raises(NotFound):  # another staff member does not even see the task
        sla.pause_clock(session, other, task.id, "waiting_resident", "", now)
    sla.pause_clock(session, staff, task.id, "waiting_resident", "业主出差", now)
    with pytest.raises(Conflict):
        sla.pause_clock(session, staff, task.id, "waiting_resident", "", now)


def test_a_sites_own_closure_moves_the_due_time_of_its_complaints(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = at("2026-11-16 10:00")  # a Monday; 7 working days end Wednesday 25th at 17:30
    shared_due = complaint_task(session, received, urgency="general", step=RESOLUTION).due_at
    assert shared_due == at("2026-11-25 17:30")

    shared = load_calendars()
    closed = SiteCalendarChange.model_validate(
        {"site_overrides": {2026: {"closures": ["2026-11-20"]}}}
    )
    own = site_version(shared["day_shift"], DEMO_SITE_CODE, closed)
    book = CalendarBook(shared, {DEMO_SITE_CODE: {"day_shift": own}})
    monkeypatch.setattr(domain.calendars, "calendar_book", lambda: book)

    # The demo site closes on Friday 20th: its cases get one working day more.
    own_due = complaint_task(session, received, urgency="general", step=RESOLUTION).due_at
    assert own_due == at("2026-11-26 17:30")


def test_a_task_that_opens_later_is_announced_once_it_opens(session: Session) -> None:
    received, opens = at("2026-09-01 10:00"), at("2026-09-02 08:30")
    task = complaint_task(session, received, available_from=opens)
    assert task.announced_at is None
    assert outbox_for(session, task, "zhangmin", "task_assigned") == 0

    def waiting(now: datetime) -> bool:
        return task.id in sla.unannounced_tasks(session, now, limit=10_000)

    assert not waiting(opens - timedelta(minutes=1))  # not open yet: nobody is told
    assert waiting(opens)
    announce(session, task, STEPS[task.step], opens)
    assert task.announced_at == opens
    assert outbox_for(session, task, "zhangmin", "task_assigned") > 0
    assert not waiting(opens + timedelta(minutes=1))  # told once: the next sweep passes it by


def test_a_due_time_without_a_ladder_is_told_once_and_the_task_stays_with_its_holder(
    session: Session,
) -> None:
    # Onboarding day 3: the trainer confirms it by the end of service; HR registered the hire.
    hr, trainer = person(session, "sunli"), person(session, "lihua")
    hire = case(session, ProcessKind.ONBOARDING, hr)
    due = at("2026-09-03 17:30")
    request = HumanRequest(
        process_id=hire.id, key="day-3", site_id=hr.site_id, assignee_id=trainer.id,
        owner_of_record_id=hr.id, available_from=at("2026-09-03 08:30"), due_at=due,
    )  # fmt: skip
    task = inbox.open_task(
        session, TRAINING_DAY, request, str(uuid.uuid4()), at("2026-09-01 10:00")
    )
    assert (task.sla_ladder, task.due_at, task.next_check_at) == (None, due, due)

    assert task.id not in sla.due_for_check(session, due - timedelta(minutes=1), 10_000)
    assert task.id in sla.due_for_check(session, due, 10_000)
    assert sweep(session, task, due) == ["overdue"]

    # The holder and the owner of record are told; the decision stays with the trainer's role.
    assert (task.assignee_id, task.candidate_role) == (trainer.id, None)
    assert outbox_for(session, task, "lihua", "task_overdue") == 1
    assert outbox_for(session, task, "sunli", "task_overdue") == 1
    overdue = session.scalars(
        select(Event).where(Event.task_id == task.id, Event.kind == "task_overdue")
    ).one()
    assert overdue.data == {"due_at": due.isoformat(), "holder_id": trainer.id, "role": None}
    # Once: the sweep no longer picks it up, and a repeated pass tells nobody twice.
    assert task.next_check_at is None
    assert task.id not in sla.due_for_check(session, due + timedelta(days=1), 10_000)
    sweep(session, task, due + timedelta(minutes=1))
    assert outbox_for(session, task, "sunli", "task_overdue") == 1
