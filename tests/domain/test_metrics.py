"""The dashboard's figures against a known history, each checked against a hand computation.

The history (sites A and B, March 2026, Beijing time; ISO weeks W09 = Mar 1, W10 = Mar 2–8,
W11 = Mar 9–15, W12 = Mar 16–22, W13 = Mar 23–29, W14 = Mar 30–31). First response: due → done.

    site received     category     first response       escalated to      closed (rating)
C1  A    Mar 2 09:00  noise        11:00 → 10:00        -                 Mar 3 09:00 (5)
C2  A    Mar 3 09:00  environment  11:00 → 12:00 late   shift lead        Mar 5 09:00 (4)
C3  A    Mar 9 08:00  noise        10:00 → 09:00        shift lead, supv. Mar 16 08:00 (3)
                                   (reopened Mar 12 08:00 after a rating of 2)
C4  A    Mar 30 10:00 parking      12:00 → open: late   up to quality     -
C5  A    Feb 27 10:00 noise        (before the period)  -                 Mar 1 10:00 (4)
C6  A    Mar 31 20:00 noise        Apr 1 08:00 → 07:00  (after March)     -
C7  B    Mar 10 09:00 noise        no task: pending     shift lead        Mar 12 09:00 (5)
C8  A    Apr 2 09:00  noise        (after the period)   -                 -
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import domain.calendars
from db.models import (
    Event,
    InboxTask,
    Process,
    ProcessKind,
    ProcessState,
    Role,
    Site,
    TaskState,
    User,
    UserRole,
)
from domain.errors import Forbidden, Invalid
from domain.metrics import (
    FIRST_RESPONSE_STEP,
    DashboardFigures,
    Measure,
    Period,
    dashboard_figures,
    drilldown,
    metrics_sites,
    month_before,
    month_period,
    requested_period,
    require_site,
    weeks_of,
)
from flows.complaint import FIRST_RESPONSE
from rules.calendar import CalendarBook, SiteCalendarChange, load_calendars, site_version
from tests.support.factories import complaint_task

BEIJING = ZoneInfo("Asia/Shanghai")
MARCH = month_period(2026, 3, BEIJING)
AFTER_MARCH = datetime(2026, 4, 10, 10, 0, tzinfo=BEIJING)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """Return a Beijing wall-clock moment of 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=BEIJING)


@dataclass
class History:
    """The ids of the rows the tests look for."""

    site_a: int
    site_b: int
    complaints: dict[str, str]
    tasks: dict[str, int]
    plans: dict[str, str]
    hires: dict[str, str]
    handovers: dict[str, str]
    people: dict[str, User]


class Writer:
    """Inserts processes, tasks and events with fixed timestamps."""

    def __init__(self, session: Session, starter: User) -> None:
        self.session = session
        self.starter = starter

    def process(
        self,
        site: int,
        kind: ProcessKind,
        state: ProcessState,
        step: str | None = None,
        subject: str = "测试",
    ) -> Process:
        process = Process(
            kind=kind,
            site_id=site,
            subject=subject,
            state=state,
            current_step=step,
            started_by_id=self.starter.id,
            started_at=at(1, 5, 9),
        )
        self.session.add(process)
        self.session.flush()
        return process

    def event(
        self,
        process: Process | str,
        kind: str,
        moment: datetime,
        task: int | None = None,
        /,
        **data: Any,
    ) -> None:
        process_id = process if isinstance(process, str) else process.id
        self.session.add(
            Event(process_id=process_id, kind=kind, at=moment, task_id=task, data=data)
        )
        self.session.flush()

    def task(
        self,
        process: Process | str,
        step: str,
        site: int,
        *,
        assignee: User | None = None,
        role: str | None = None,
        tier: str = "staff",
        due: datetime | None = None,
        state: TaskState = TaskState.OPEN,
        available_from: datetime | None = None,
    ) -> int:
        process_id = process if isinstance(process, str) else process.id
        task = InboxTask(
            process_id=process_id,
            flow_run_id=str(uuid.uuid4()),
            step_key=step.split(".")[-1],
            step=step,
            state=state,
            site_id=site,
            assignee_id=assignee.id if assignee else None,
            candidate_role=role,
            available_from=available_from or at(1, 5, 9),
            due_at=due,
            tier=tier,
            created_at=at(1, 5, 9),
        )
        self.session.add(task)
        self.session.flush()
        return task.id

    def complaint(
        self, site: int, received: datetime, category: str, state: ProcessState, step: str | None
    ) -> Process:
        process = self.process(site, ProcessKind.COMPLAINT, state, step)
        self.event(process, "complaint_received", received, category=category, urgency="urgent")
        return process


def add_person(session: Session, site: Site, username: str, name: str, *roles: Role) -> User:
    user = User(
        username=f"{username}-{uuid.uuid4().hex[:6]}",
        display_name=name,
        password_hash="-",
        site_id=site.id,
    )
    user.roles = [UserRole(role=role) for role in roles]
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def history(session: Session) -> Iterator[History]:
    site_a = Site(code=f"A-{uuid.uuid4().hex[:6]}", name="甲管理处", timezone="Asia/Shanghai")
    site_b = Site(code=f"B-{uuid.uuid4().hex[:6]}", name="乙管理处", timezone="Asia/Shanghai")
    session.add_all([site_a, site_b])
    session.flush()
    a, b = site_a.id, site_b.id
    staff1 = add_person(session, site_a, "staff1", "A 管家", Role.STAFF)
    staff2 = add_person(session, site_a, "staff2", "B 管家", Role.STAFF)
    trainer1 = add_person(session, site_a, "trainer1", "A 教练", Role.STAFF)
    trainer2 = add_person(session, site_a, "trainer2", "B 教练", Role.STAFF)
    mentor1 = add_person(session, site_a, "mentor1", "A 导师", Role.STAFF)
    mentor2 = add_person(session, site_a, "mentor2", "B 导师", Role.STAFF)
    write = Writer(session, staff1)
    complaints: dict[str, str] = {}
    tasks: dict[str, int] = {}

    # C1 and C2 go through the real intake: the received event and the first-response task's
    # SLA due time (urgent: 2 hours around the clock) are the product's own.
    c1_task = complaint_task(session, at(3, 2, 9), category="noise", by=staff1.username)
    c2_task = complaint_task(session, at(3, 3, 9), category="environment", by=staff1.username)
    assert c1_task.due_at == at(3, 2, 11) and c2_task.due_at == at(3, 3, 11)
    c1, c2 = c1_task.process_id, c2_task.process_id
    for task in (c1_task, c2_task):
        task.state = TaskState.DONE
        process = session.get_one(Process, task.process_id)
        process.state, process.current_step = ProcessState.CLOSED, None
    write.event(c1, "task_completed", at(3, 2, 10), c1_task.id, step=FIRST_RESPONSE_STEP)
    write.event(c1, "complaint_closed", at(3, 3, 9), satisfaction=5)
    write.event(c2, "task_escalated", at(3, 3, 11), c2_task.id, to_role="shift_lead")
    write.event(c2, "task_completed", at(3, 3, 12), c2_task.id, step=FIRST_RESPONSE_STEP)
    write.event(c2, "complaint_closed", at(3, 5, 9), satisfaction=4)

    c3 = write.complaint(a, at(3, 9, 8), "noise", ProcessState.CLOSED, None)
    c3_first = write.task(c3, FIRST_RESPONSE_STEP, a, assignee=staff1, due=at(3, 9, 10),
                          state=TaskState.DONE)  # fmt: skip
    c3_resolution = write.task(c3, "complaint.resolution", a, assignee=staff1,
                               due=at(3, 10, 8), state=TaskState.DONE)  # fmt: skip
    write.event(c3, "task_completed", at(3, 9, 9), c3_first, step=FIRST_RESPONSE_STEP)
    write.event(c3, "task_escalated", at(3, 10, 15), c3_resolution, to_role="shift_lead")
    write.event(c3, "task_escalated", at(3, 11, 9), c3_resolution, to_role="supervisor")
    write.event(c3, "complaint_reopened", at(3, 12, 8), satisfaction=2)
    write.event(c3, "complaint_closed", at(3, 16, 8), satisfaction=3)

    c4 = write.complaint(a, at(3, 30, 10), "parking", ProcessState.RUNNING, FIRST_RESPONSE_STEP)
    # Escalated all the way: the task now sits in the quality department's queue.
    c4_first = write.task(c4, FIRST_RESPONSE_STEP, a, role="quality", tier="quality",
                          due=at(3, 30, 12))  # fmt: skip
    for role, moment in (("shift_lead", at(3, 30, 12)), ("supervisor", at(3, 30, 14)),
                         ("site_manager", at(3, 30, 18)), ("quality", at(3, 31, 10))):  # fmt: skip
        write.event(c4, "task_escalated", moment, c4_first, to_role=role)

    c5 = write.complaint(a, at(2, 27, 10), "noise", ProcessState.CLOSED, None)
    write.event(c5, "complaint_closed", at(3, 1, 10), satisfaction=4)

    c6 = write.complaint(a, at(3, 31, 20), "noise", ProcessState.RUNNING, "complaint.resolution")
    c6_first = write.task(c6, FIRST_RESPONSE_STEP, a, assignee=staff1, due=at(4, 1, 8),
                          state=TaskState.DONE)  # fmt: skip
    write.event(c6, "task_completed", at(4, 1, 7), c6_first, step=FIRST_RESPONSE_STEP)
    c6_resolution = write.task(c6, "complaint.resolution", a, assignee=staff1, due=at(4, 10, 15))
    # After the period: it must not count in March.
    write.event(c6, "task_escalated", at(4, 1, 9), c6_first, to_role="shift_lead")

    c7 = write.complaint(b, at(3, 10, 9), "noise", ProcessState.CLOSED, None)
    write.event(c7, "task_escalated", at(3, 11, 9), to_role="shift_lead")
    write.event(c7, "complaint_closed", at(3, 12, 9), satisfaction=5)

    c8 = write.complaint(a, at(4, 2, 9), "noise", ProcessState.RUNNING, FIRST_RESPONSE_STEP)
    c8_first = write.task(c8, FIRST_RESPONSE_STEP, a, assignee=staff2, due=at(4, 11, 9))
    engineering = write.task(c6, "complaint.department-work", a, role="engineering",
                             due=at(4, 10, 9))  # fmt: skip
    # Neither counts as open now: one opens later, one is done.
    write.task(c6, "complaint.return-visit", a, assignee=staff1, available_from=at(4, 12, 9))
    write.task(c8, "complaint.resolution", a, assignee=staff2, state=TaskState.DONE)
    complaints.update(C1=c1, C2=c2, C3=c3.id, C4=c4.id, C5=c5.id, C6=c6.id, C7=c7.id, C8=c8.id)
    tasks.update(C4_first=c4_first, C6_resolution=c6_resolution, C8_first=c8_first,
                 engineering=engineering)  # fmt: skip

    # Training plans (deadlines end at 17:30 on the day-shift calendar).
    plans: dict[str, str] = {}
    for name, step, draft_due, approval_due in (
        ("P1", "training_plan.record-session", "2026-03-25", "2026-03-30"),
        ("P2", "training_plan.draft", "2026-03-10", "2026-03-13"),
        ("P3", None, "2026-04-24", "2026-04-30"),
        ("P4", "training_plan.approve", "2026-03-31", "2026-04-03"),
    ):
        state = ProcessState.STARTING if step is None else ProcessState.RUNNING
        plan = write.process(a, ProcessKind.TRAINING_PLAN, state, step)
        write.event(plan, "training_plan_started", at(3, 1, 8), kind="monthly",
                    draft_due_on=draft_due, approval_due_on=approval_due)  # fmt: skip
        plans[name] = plan.id
    write.event(plans["P1"], "training_plan_incomplete", at(3, 20, 10), version=1)
    write.event(plans["P1"], "training_plan_submitted", at(3, 24, 10), version=2)
    write.event(plans["P1"], "training_plan_rejected", at(3, 26, 10), version=2)
    write.event(plans["P1"], "training_plan_submitted", at(3, 27, 10), version=3)
    write.event(plans["P1"], "training_plan_approved", at(3, 31, 9), version=3)
    write.event(plans["P4"], "training_plan_submitted", at(4, 1, 9), version=1)

    # Onboarding: exams as the onboarding domain records them.
    hires: dict[str, str] = {}
    for name, state, trainer, mentors, exams in (
        ("H1", ProcessState.CLOSED, trainer1, [mentor1], [(at(3, 5, 10), True)]),
        ("H2", ProcessState.CLOSED, trainer1, [mentor1],
         [(at(3, 6, 10), False), (at(3, 20, 10), True)]),
        ("H3", ProcessState.RUNNING, trainer2, [mentor1, mentor2],
         [(at(3, 10, 10), False), (at(3, 25, 10), False), (at(4, 3, 10), True)]),
        ("H4", ProcessState.CLOSED, trainer2, [], [(at(2, 25, 10), True)]),
        ("H5", ProcessState.CLOSED, trainer2, [], [(at(3, 28, 10), True)]),
    ):  # fmt: skip
        step = "onboarding.exam" if state is ProcessState.RUNNING else None
        hire = write.process(a, ProcessKind.ONBOARDING, state, step)
        for mentor in mentors:
            write.event(hire, "mentor_assigned", at(3, 2, 9), mentor_id=mentor.id)
        for attempt, (moment, passed) in enumerate(exams, start=1):
            write.event(hire, "exam_scored", moment, attempt=attempt, passed=passed,
                        trainer_id=trainer.id, total=80 if passed else 50)  # fmt: skip
        hires[name] = hire.id

    # Handovers: R1 has 4 items, 2 accepted and 1 dispute settled; R2 has no checklist yet.
    handovers: dict[str, str] = {}
    r1 = write.process(
        a, ProcessKind.RESIGNATION, ProcessState.RUNNING, "resignation.confirm-items"
    )
    write.event(r1, "handover_checklist_created", at(3, 20, 9), items=4, sessions=1)
    write.event(r1, "handover_item_accepted", at(3, 21, 9), item_id=1)
    write.event(r1, "handover_item_accepted", at(3, 21, 9), item_id=2)
    write.event(r1, "handover_item_disputed", at(3, 21, 9), item_id=3)
    write.event(r1, "handover_item_disputed", at(3, 21, 9), item_id=4)
    write.event(r1, "handover_dispute_resolved", at(3, 22, 9), item_id=3, outcome="resolved")
    write.event(r1, "handover_dispute_resolved", at(3, 22, 9), item_id=4, outcome="reconfirm")
    r2 = write.process(a, ProcessKind.RESIGNATION, ProcessState.RUNNING, "resignation.inventory")
    r3 = write.process(a, ProcessKind.RESIGNATION, ProcessState.CLOSED)
    write.event(r3, "handover_checklist_created", at(3, 2, 9), items=2, sessions=0)
    r4 = write.process(b, ProcessKind.RESIGNATION, ProcessState.RUNNING, "resignation.inventory")
    handovers.update(R1=r1.id, R2=r2.id, R3=r3.id, R4=r4.id)

    yield History(
        site_a=a,
        site_b=b,
        complaints=complaints,
        tasks=tasks,
        plans=plans,
        hires=hires,
        handovers=handovers,
        people={"staff1": staff1, "staff2": staff2, "trainer1": trainer1, "trainer2": trainer2,
                "mentor1": mentor1, "mentor2": mentor2},
    )  # fmt: skip


@pytest.fixture
def figures(session: Session, history: History) -> DashboardFigures:
    return dashboard_figures(
        session, history.site_a, MARCH, AFTER_MARCH, [history.site_a, history.site_b]
    )


def ids(history: History, *names: str) -> list[str]:
    """Return the process ids of the named complaints, plans, hires or handovers."""
    known = {**history.complaints, **history.plans, **history.hires, **history.handovers}
    return [known[name] for name in names]


def behind(
    session: Session, history: History, measure: Measure, key: str | None = None
) -> list[str]:
    return drilldown(session, history.site_a, MARCH, AFTER_MARCH, measure, key).process_ids


def test_the_step_name_matches_the_flow() -> None:
    assert FIRST_RESPONSE.name == FIRST_RESPONSE_STEP


def test_a_period_is_aware_and_ordered() -> None:
    with pytest.raises(ValueError, match="naive"):
        Period(datetime(2026, 3, 1), datetime(2026, 4, 1))
    with pytest.raises(ValueError, match="end after"):
        Period(at(3, 2, 0), at(3, 1, 0))
    assert month_before(at(1, 15, 9), BEIJING) == month_period(2025, 12, BEIJING)
    assert MARCH.start == datetime(2026, 2, 28, 16, tzinfo=UTC)


def test_a_requested_period_defaults_to_this_month_on_site_time() -> None:
    now = at(3, 20, 10)

    assert requested_period(None, None, BEIJING, now) == MARCH
    # Naive times are read on the site's wall clock; without an end, to the end of that month.
    assert requested_period(datetime(2026, 3, 10), None, BEIJING, now) == Period(
        at(3, 10, 0), MARCH.end
    )
    with pytest.raises(Invalid):
        requested_period(at(3, 10, 0), at(3, 9, 0), BEIJING, now)
    with pytest.raises(Invalid):
        requested_period(at(1, 1, 0), datetime(2027, 1, 3, tzinfo=BEIJING), BEIJING, now)


def test_weeks_are_iso_weeks_cut_to_the_period() -> None:
    weeks = weeks_of(MARCH, BEIJING)

    assert [w.label for w in weeks] == ["2026-W09", "2026-W10", "2026-W11", "2026-W12",
                                        "2026-W13", "2026-W14"]  # fmt: skip
    assert weeks[0].start == MARCH.start and weeks[0].end == at(3, 2, 0)
    assert weeks[-1].start == at(3, 30, 0) and weeks[-1].end == MARCH.end


def test_complaint_measures(figures: DashboardFigures) -> None:
    measures = figures.complaints
    # Received in March at A: C1, C2, C3, C4, C6 (C5 before, C8 after, C7 at B).
    assert measures.received == 5
    # Closed in March at A: C5 (Mar 1), C1, C2, C3.
    assert measures.closed == 4
    # 受理及时率: on time C1, C3; late C2 (done 12:00 > 11:00) and C4 (still open, due Mar 30);
    # C6 is due Apr 1 08:00, after the period's end, and was not done by then: pending.
    assert (measures.acceptance.on_time, measures.acceptance.late) == (2, 2)
    assert measures.acceptance.pending == 1 and measures.acceptance.rate == 0.5
    # 一次性解决率: of C5, C1, C2, C3 only C5 and C1 had no reopen and no escalation: 2 / 4.
    assert (measures.one_time_resolution.numerator, measures.one_time_resolution.denominator) == (
        2,
        4,
    )
    # Cycle times (hours): C1 24, C2 48, C5 48 (Feb 27 10:00 → Mar 1 10:00), C3 168.
    # Sorted [24, 48, 48, 168]; median at rank 1.5 → 48; p90 at rank 0.9 × 3 = 2.7 →
    # 48 + 0.7 × (168 − 48) = 132.
    assert measures.cycle_time.closed == 4
    assert measures.cycle_time.median_hours == pytest.approx(48.0)
    assert measures.cycle_time.p90_hours == pytest.approx(132.0)
    # 投诉升级率: C2, C3, C4 escalated (C6's escalation came after the period): 3 / 5.
    assert (measures.escalation.numerator, measures.escalation.denominator) == (3, 5)
    # 满意度: return visits in March: C5 4, C1 5, C2 4, C3 2 (reopened), C3 3 → 18 / 5 = 3.6;
    # poor (≤ 2): one of five.
    assert measures.satisfaction.ratings == 5
    assert measures.satisfaction.average == pytest.approx(3.6)
    assert (measures.satisfaction.poor.numerator, measures.satisfaction.poor.value) == (1, 0.2)


def test_weekly_trend(figures: DashboardFigures) -> None:
    # Received: W10 C1, C2; W11 C3; W14 C4, C6. Closed: W09 C5; W10 C1, C2; W12 C3.
    assert [(w.week, w.received, w.closed) for w in figures.weekly] == [
        ("2026-W09", 0, 1),
        ("2026-W10", 2, 2),
        ("2026-W11", 1, 0),
        ("2026-W12", 0, 1),
        ("2026-W13", 0, 0),
        ("2026-W14", 2, 0),
    ]


def test_breakdown_by_category(figures: DashboardFigures) -> None:
    rows = {row.key: row for row in figures.by_category}
    # Most received first; ties by most closed: noise 3, environment 1 (closed 1), parking 1.
    assert [row.key for row in figures.by_category] == [
        "category:noise",
        "category:environment",
        "category:parking",
    ]
    noise = rows["category:noise"]
    # Received C1, C3, C6; closed in March C5, C1, C3; escalated C3; on time C1, C3; C6 pending.
    assert (noise.received, noise.closed, noise.escalated) == (3, 3, 1)
    assert (noise.acceptance.on_time, noise.acceptance.late, noise.acceptance.pending) == (2, 0, 1)
    environment = rows["category:environment"]
    assert (
        environment.received,
        environment.closed,
        environment.escalated,
        environment.acceptance.late,
    ) == (
        1,
        1,
        1,
        1,
    )
    parking = rows["category:parking"]
    assert (parking.received, parking.closed, parking.escalated, parking.acceptance.late) == (
        1, 0, 1, 1,
    )  # fmt: skip


def test_breakdown_by_site(figures: DashboardFigures, history: History) -> None:
    a, b = (row for row in figures.by_site)
    assert (a.key, a.name, b.key, b.name) == (
        f"site:{history.site_a}", "甲管理处", f"site:{history.site_b}", "乙管理处",
    )  # fmt: skip
    assert (a.received, a.closed, a.escalated, a.escalation_rate) == (5, 4, 3, 0.6)
    # B: C7 received, escalated and closed.
    assert (b.received, b.closed, b.escalated, b.escalation_rate) == (1, 1, 1, 1.0)
    # Sites are not compared on acceptance (its lookups cost more than the rest); A's is in
    # its measures.
    assert a.acceptance is None and b.acceptance is None


def test_escalation_ladder(figures: DashboardFigures) -> None:
    # Highest tier reached: C1 staff, C2 shift lead, C3 supervisor, C4 quality, C6 staff.
    assert [(step.tier, step.reached) for step in figures.escalation_ladder] == [
        ("staff", 5),
        ("shift_lead", 3),
        ("supervisor", 2),
        ("site_manager", 1),
        ("quality", 1),
    ]


def test_running_processes(figures: DashboardFigures) -> None:
    running = figures.running
    # Complaints C4, C6, C8; plans P1, P2, P3 (starting), P4; hire H3; handovers R1, R2.
    assert running.total == 10
    assert [(k.kind, k.count) for k in running.by_kind] == [
        ("complaint", 3), ("onboarding", 1), ("resignation", 2), ("training_plan", 4),
    ]  # fmt: skip
    assert [(s.kind, s.step, s.count) for s in running.by_step] == [
        ("complaint", "complaint.first-response", 2),
        ("complaint", "complaint.resolution", 1),
        ("onboarding", "onboarding.exam", 1),
        ("resignation", "resignation.confirm-items", 1),
        ("resignation", "resignation.inventory", 1),
        ("training_plan", None, 1),
        ("training_plan", "training_plan.approve", 1),
        ("training_plan", "training_plan.draft", 1),
        ("training_plan", "training_plan.record-session", 1),
    ]


def test_open_tasks_by_tier_and_person(figures: DashboardFigures, history: History) -> None:
    tasks = figures.tasks
    # Now is Apr 10 10:00. Open: C4 first response (quality queue, due Mar 30: overdue),
    # C6 resolution (staff1, due 15:00 today), C8 first response (staff2, due tomorrow),
    # engineering work (queue, due 09:00 today: overdue). Not counted: one opening Apr 12, one done.
    assert (tasks.total.open, tasks.total.due_today, tasks.total.overdue) == (4, 1, 2)
    assert [(t.key, t.open, t.due_today, t.overdue) for t in tasks.by_tier] == [
        ("tier:staff", 3, 1, 1),
        ("tier:quality", 1, 0, 1),
    ]
    staff1, staff2 = history.people["staff1"], history.people["staff2"]
    # Most overdue first, then most due today, then most open.
    assert [(t.key, t.name, t.open, t.due_today, t.overdue) for t in tasks.by_person] == [
        ("role:engineering", None, 1, 0, 1),
        ("role:quality", None, 1, 0, 1),
        (f"user:{staff1.id}", "A 管家", 1, 1, 0),
        (f"user:{staff2.id}", "B 管家", 1, 0, 0),
    ]


def test_training_plans_on_time(figures: DashboardFigures) -> None:
    plans = figures.training_plans
    # Drafts due in March: P1 (Mar 25 17:30; first submitted Mar 24: on time), P2 (Mar 10;
    # never submitted: late), P4 (Mar 31; submitted Apr 1, after the period: late). P3 is April's.
    assert (plans.submission.on_time, plans.submission.late, plans.submission.pending) == (1, 2, 0)
    # Approvals due in March: P1 (Mar 30 17:30; approved Mar 31: late), P2 (not approved: late).
    assert (plans.approval.on_time, plans.approval.late, plans.approval.pending) == (0, 2, 0)
    assert plans.submission.rate == pytest.approx(1 / 3) and plans.approval.rate == 0


def test_onboarding_pass_rates(figures: DashboardFigures, history: History) -> None:
    onboarding = figures.onboarding
    # First exam in March: H1, H2, H3, H5 (H4's was in February).
    assert onboarding.learners == 4
    # Attempt 1: sat 4, passed H1, H5 → 2 / 4. Attempt 2: sat H2, H3; passed by then H1, H2, H5
    # → 3 / 4. Attempt 3: H3 sat it on Apr 3, after the period: sat 0, passed by then still 3.
    assert [(r.attempt, r.sat, r.passed, r.rate, r.target) for r in onboarding.by_attempt] == [
        (1, 4, 2, 0.5, 0.9),
        (2, 2, 3, 0.75, 0.95),
        (3, 0, 3, 0.75, 1.0),
    ]
    people = history.people
    # Trainer A: H1 (first), H2 (second). Trainer B: H3 (not yet), H5 (first).
    assert [
        (r.key, r.name, r.learners, r.passed_first, r.passed) for r in onboarding.by_trainer
    ] == [
        (f"trainer:{people['trainer1'].id}", "A 教练", 2, 1, 2),
        (f"trainer:{people['trainer2'].id}", "B 教练", 2, 1, 1),
    ]
    # Mentor A: H1, H2; mentor B: H3 (chosen after mentor A: the later choice counts); none: H5.
    assert [(r.key, r.learners, r.passed_first, r.passed) for r in onboarding.by_mentor] == [
        (f"mentor:{people['mentor1'].id}", 2, 1, 2),
        (f"mentor:{people['mentor2'].id}", 1, 0, 0),
        ("mentor:", 1, 1, 1),
    ]
    assert onboarding.by_trainer[1].first_rate == 0.5 and onboarding.by_mentor[1].rate == 0


def test_open_handovers(figures: DashboardFigures, history: History) -> None:
    handovers = figures.handovers
    # R1 and R2 are open at A (R3 closed, R4 at B). R1: 2 accepted + 1 settled dispute of 4;
    # the dispute sent back for reconfirmation does not count.
    assert handovers.open == 2
    assert (handovers.items, handovers.confirmed, handovers.completion) == (4, 3, 0.75)
    # Oldest first; both started at the same moment here, so compare without order.
    assert {(h.process_id, h.items, h.confirmed, h.completion) for h in handovers.handovers} == {
        (history.handovers["R1"], 4, 3, 0.75),
        (history.handovers["R2"], 0, 0, None),
    }


def test_while_the_period_runs_events_count_up_to_now(session: Session, history: History) -> None:
    now = at(3, 10, 12)
    figures = dashboard_figures(session, history.site_a, MARCH, now)

    measures = figures.complaints
    assert figures.as_of == now
    # Received by then: C1, C2, C3; on time C1, C3, late C2. Escalated: C2 only (C3's first
    # escalation is at 15:00). Closed: C5, C1, C2, one of them (C2) escalated.
    assert measures.received == 3
    assert (measures.acceptance.on_time, measures.acceptance.late) == (2, 1)
    assert (measures.escalation.numerator, measures.closed) == (1, 3)
    assert measures.one_time_resolution.numerator == 2
    assert [s.reached for s in figures.escalation_ladder] == [3, 1, 0, 0, 0]
    # The drafts due later in March are not judged yet; P2 (due today 17:30) is pending too.
    assert (figures.training_plans.submission.pending, figures.training_plans.submission.late) == (
        3, 0,
    )  # fmt: skip
    # Only the compared sites appear in the breakdown (here: A alone).
    assert [row.key for row in figures.by_site] == [f"site:{history.site_a}"]


def test_a_pending_first_response_becomes_late_once_due(session: Session, history: History) -> None:
    # C6 is due Apr 1 08:00 and was done at 07:00: on time when seen over April's first day.
    month_end = Period(at(3, 30, 0), at(4, 2, 0))
    measures = dashboard_figures(session, history.site_a, month_end, AFTER_MARCH).complaints
    # Received Mar 30 – Apr 1: C4 (late) and C6 (on time).
    assert (measures.acceptance.on_time, measures.acceptance.late) == (1, 1)


@pytest.mark.parametrize(
    ("measure", "key", "expected"),
    [
        (Measure.RECEIVED, None, ["C1", "C2", "C3", "C4", "C6"]),
        (Measure.RECEIVED, "category:noise", ["C1", "C3", "C6"]),
        (Measure.RECEIVED, "week:2026-W14", ["C4", "C6"]),
        (Measure.RECEIVED, "tier:supervisor", ["C3", "C4"]),
        (Measure.RECEIVED, "category:noise,week:2026-W11", ["C3"]),
        (Measure.ACCEPTED_ON_TIME, None, ["C1", "C3"]),
        (Measure.ACCEPTED_LATE, None, ["C2", "C4"]),
        (Measure.ACCEPTANCE_PENDING, None, ["C6"]),
        (Measure.ESCALATED, None, ["C2", "C3", "C4"]),
        # Slowest first: C3 168 h, then C2 and C5 48 h (by id), then C1 24 h.
        (Measure.CLOSED, "week:2026-W10", ["C2", "C1"]),
        (Measure.RESOLVED_FIRST_TIME, None, ["C5", "C1"]),
        (Measure.REWORKED, None, ["C3", "C2"]),
        (Measure.RATED, None, ["C5", "C1", "C2", "C3"]),
        (Measure.POOR_RATINGS, None, ["C3"]),
        (Measure.RUNNING, "kind:complaint", ["C4", "C6", "C8"]),
        (Measure.PLAN_SUBMITTED_ON_TIME, None, ["P1"]),
        (Measure.PLAN_SUBMITTED_LATE, None, ["P2", "P4"]),
        (Measure.PLAN_APPROVED_LATE, None, ["P1", "P2"]),
        (Measure.PASSED, "attempt:2", ["H1", "H2", "H5"]),
        (Measure.HANDOVERS_OPEN, None, ["R1", "R2"]),
    ],
)
def test_drilldown_lists_the_processes_behind_a_figure(
    session: Session, history: History, measure: Measure, key: str | None, expected: list[str]
) -> None:
    found = behind(session, history, measure, key)

    if measure in (Measure.CLOSED, Measure.RESOLVED_FIRST_TIME, Measure.REWORKED):
        # Ordered by cycle time (longest first); equal times by process id.
        assert sorted(found) == sorted(ids(history, *expected))
        assert len(found) == len(expected)
    elif measure in (Measure.RUNNING, Measure.PLAN_SUBMITTED_LATE, Measure.PLAN_APPROVED_LATE,
                     Measure.PASSED, Measure.HANDOVERS_OPEN, Measure.RATED):  # fmt: skip
        assert sorted(found) == sorted(ids(history, *expected))
    else:
        assert found == ids(history, *expected)


def test_closed_drilldown_is_slowest_first(session: Session, history: History) -> None:
    found = behind(session, history, Measure.CLOSED)

    assert found[0] == history.complaints["C3"] and found[-1] == history.complaints["C1"]
    assert set(found[1:3]) == {history.complaints["C2"], history.complaints["C5"]}


def test_drilldown_of_tasks_and_learners(session: Session, history: History) -> None:
    people = history.people
    overdue = drilldown(session, history.site_a, MARCH, AFTER_MARCH, Measure.TASKS_OVERDUE)
    today = drilldown(
        session, history.site_a, MARCH, AFTER_MARCH, Measure.TASKS_DUE_TODAY,
        f"user:{people['staff1'].id}",
    )  # fmt: skip
    queue = drilldown(
        session, history.site_a, MARCH, AFTER_MARCH, Measure.TASKS_OPEN, "role:engineering"
    )
    first = behind(session, history, Measure.PASSED_FIRST, f"trainer:{people['trainer2'].id}")
    unmentored = behind(session, history, Measure.LEARNERS, "mentor:")

    # Overdue, soonest due first: C4's first response (Mar 30), then the engineering work.
    assert overdue.task_ids == [history.tasks["C4_first"], history.tasks["engineering"]]
    assert overdue.total == 2
    assert today.task_ids == [history.tasks["C6_resolution"]]
    assert today.process_ids == [history.complaints["C6"]]
    assert queue.task_ids == [history.tasks["engineering"]]
    assert first == [history.hires["H5"]] and unmentored == [history.hires["H5"]]


def test_drilldown_refuses_unknown_filters(session: Session, history: History) -> None:
    with pytest.raises(Invalid):
        behind(session, history, Measure.RATED, "category:noise")
    with pytest.raises(Invalid):
        behind(session, history, Measure.RECEIVED, "week:2026-W30")
    with pytest.raises(Invalid):
        behind(session, history, Measure.TASKS_OPEN, "user:someone")


def test_only_managing_roles_read_and_only_their_site(session: Session, history: History) -> None:
    site_a = session.get_one(Site, history.site_a)
    lead = add_person(session, site_a, "lead", "班长", Role.SHIFT_LEAD)
    quality = add_person(session, site_a, "quality", "品质", Role.QUALITY)

    with pytest.raises(Forbidden):
        metrics_sites(session, history.people["staff1"])
    assert metrics_sites(session, lead) == [history.site_a]
    with pytest.raises(Forbidden):
        require_site(session, lead, history.site_b)
    every_site = list(session.scalars(select(Site.id).order_by(Site.id)))
    assert require_site(session, quality, history.site_b) == every_site


def test_plan_deadlines_are_judged_on_the_sites_own_plan_calendar(
    session: Session, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    # P2's draft, due Mar 10, comes in at 20:00 that day: after the shared day shift's 17:30.
    session.add(
        Event(process_id=history.plans["P2"], kind="training_plan_submitted",
              at=at(3, 10, 20), data={"version": 1})
    )  # fmt: skip
    session.flush()
    late = dashboard_figures(session, history.site_a, MARCH, AFTER_MARCH, [history.site_a])
    assert late.training_plans.submission.on_time == 1  # P1 only

    # Site A's supervisors work until 21:00 on its version of the plan calendar.
    shared = load_calendars()
    evenings = SiteCalendarChange.model_validate(
        {"service_hours": {"on_working_days": [{"start": "08:30", "end": "21:00"}],
                           "on_rest_days": []}}
    )  # fmt: skip
    site_a = session.get_one(Site, history.site_a)
    own = site_version(shared["day_shift"], site_a.code, evenings)
    book = CalendarBook(shared, {site_a.code: {"day_shift": own}})
    monkeypatch.setattr(domain.calendars, "calendar_book", lambda: book)

    judged = dashboard_figures(session, history.site_a, MARCH, AFTER_MARCH, [history.site_a])
    assert judged.training_plans.submission.on_time == 2  # P1, and P2 before 21:00
