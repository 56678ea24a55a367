"""Training plan services against the real database: starting, versions and decisions,
self-approval, the diff between versions, sessions, the training record and its CSV."""

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import domain.calendars
from db.models import (
    Event,
    InboxTask,
    OutboxMessage,
    Process,
    Role,
    Site,
    TaskState,
    TrainingPlanDecision,
    User,
    UserRole,
)
from db.models.training_plan import DecisionOutcome, PlanState
from db.session import transaction
from domain import inbox
from domain import training_plan as plans
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.people import hash_password
from domain.plan_access import involved_plan
from domain.processes import get_process
from domain.steps import HumanRequest
from domain.validation import validate_form
from flows.catalog import STEPS
from flows.training_plan import APPROVE, DRAFT, RECORD_SESSION
from forms.training_plan import (
    AssessmentDecision,
    AttendanceDecision,
    PlanDecision,
    PlanDocument,
    TrainingPlanCreate,
)
from launch.demo import DEMO_SITE_CODE
from notify.render import render
from rules.calendar import CalendarBook, SiteCalendarChange, load_calendars, site_version
from rules.training_plan import (
    Cadence,
    PlanKind,
    load_policy,
    plan_deadlines,
    plan_period,
    policy_calendar,
    working_days_before,
)
from tests.support.factories import person

POLICY = load_policy()
CALENDAR = policy_calendar(POLICY)
NOW = datetime(2029, 12, 3, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Monday
JANUARY_2030 = TrainingPlanCreate(kind=PlanKind.MONTHLY, year=2030, month=1)


def new_person(session: Session, *roles: Role) -> User:
    """Add a colleague at the demo site with `roles`."""
    site_id = person(session, "zhaolei").site_id
    username = f"tp-{uuid.uuid4().hex[:8]}"
    user = User(
        username=username,
        display_name=f"员工{username[-4:]}",
        password_hash=hash_password("x"),
        site_id=site_id,
        email=f"{username}@test.kefu.local",
    )
    user.roles = [UserRole(role=role) for role in roles]
    session.add(user)
    session.flush()
    return user


def document(trainer: User, attendees: list[User], **overrides: Any) -> PlanDocument:
    """Return a plan for January 2030 that is fit to submit."""
    data: dict[str, Any] = {
        "title": "2030年1月培训计划",
        "compliance_confirmed": True,
        "items": [
            {
                "topic": "投诉处理",
                "attendee_ids": [a.id for a in attendees],
                "trainer_id": trainer.id,
                "method": "lecture",
                "hours": 1.5,
                "venue": "二楼会议室",
                "sessions": [{"starts_at": "2030-01-08T14:00:00+08:00"}],
                "assessment_criteria": "笔试 60 分及格",
            }
        ],
        "budget": [{"category": "materials", "description": "讲义", "amount": "200.00"}],
    }
    data.update(overrides)
    return PlanDocument.model_validate(data)


def complete_step(
    session: Session, process_id: str, step: Any, key: str, actor: User, payload: dict[str, Any]
) -> InboxTask:
    """Open the step's task for `actor` and complete it through the inbox, as a person would."""
    task = inbox.open_task(
        session,
        step,
        HumanRequest(process_id=process_id, key=key, site_id=actor.site_id, assignee_id=actor.id),
        str(uuid.uuid4()),
        NOW,
    )
    return inbox.complete(session, actor, task.id, payload, STEPS, NOW)


def submit(
    session: Session, process_id: str, key: str, actor: User, plan: PlanDocument
) -> plans.SubmittedVersion:
    complete_step(session, process_id, DRAFT, key, actor, plan.model_dump(mode="json"))
    return plans.record_version(session, process_id, plan, key, POLICY, NOW)


def decide(
    session: Session, process_id: str, version: int, key: str, actor: User, decision: PlanDecision
) -> bool:
    complete_step(session, process_id, APPROVE, key, actor, decision.model_dump(mode="json"))
    return plans.record_decision(session, process_id, version, decision, key, NOW)


# --- starting ----------------------------------------------------------------------------------


def test_supervisor_starts_a_plan_with_its_deadlines(session: Session) -> None:
    supervisor = person(session, "zhaolei")
    process = plans.start_plan(session, supervisor, JANUARY_2030, POLICY, NOW)
    plan = plans.get_plan(session, process.id)
    assert process.subject == "2030-01 月度培训计划"
    assert plan.drafter_id == supervisor.id and plan.state == PlanState.DRAFTING
    assert (plan.period_starts_on, plan.period_ends_on) == (date(2030, 1, 1), date(2030, 1, 31))
    # December 25, 2029 is a Tuesday; the 30th a Sunday, so approval is due Friday the 28th.
    assert (plan.draft_due_on, plan.approval_due_on) == (date(2029, 12, 25), date(2029, 12, 28))
    with pytest.raises(Conflict):
        plans.start_plan(session, supervisor, JANUARY_2030, POLICY, NOW)


def test_only_a_supervisor_drafts(session: Session) -> None:
    with pytest.raises(Forbidden):
        plans.start_plan(session, person(session, "zhangmin"), JANUARY_2030, POLICY, NOW)


def test_a_past_period_is_refused(session: Session) -> None:
    past = TrainingPlanCreate(kind=PlanKind.MONTHLY, year=2029, month=11)
    with pytest.raises(Invalid):
        plans.start_plan(session, person(session, "zhaolei"), past, POLICY, NOW)


def test_scheduled_plan_waits_in_the_supervisors_queue(session: Session) -> None:
    site_id = person(session, "zhaolei").site_id
    process = plans.open_scheduled_plan(
        session, site_id, plan_period(PlanKind.ANNUAL, 2031), POLICY, NOW
    )
    assert process is not None and plans.get_plan(session, process.id).drafter_id is None
    # A second run of the schedule opens nothing more.
    assert (
        plans.open_scheduled_plan(session, site_id, plan_period(PlanKind.ANNUAL, 2031), POLICY, NOW)
        is None
    )


# --- submitting, deciding, self-approval -------------------------------------------------------


def test_unfit_plan_is_refused_with_every_problem(session: Session) -> None:
    supervisor = person(session, "zhaolei")
    process = plans.start_plan(session, supervisor, JANUARY_2030, POLICY, NOW)
    unfit = document(supervisor, [], compliance_confirmed=False, budget=[{"category": "venue"}])
    with pytest.raises(Invalid) as refused:
        plans.check_submission(session, process.id, unfit, POLICY)
    fields = {".".join(map(str, p.loc)) for p in refused.value.problems}
    assert fields == {
        "compliance_confirmed",
        "items.0.attendee_ids",
        "budget.0.description",
        "budget.0.amount",
    }


def test_nobody_approves_their_own_plan(session: Session) -> None:
    # The drafter is a supervisor who also holds the site manager role.
    drafter = new_person(session, Role.SUPERVISOR, Role.SITE_MANAGER)
    attendee = new_person(session, Role.STAFF)
    process = plans.start_plan(session, drafter, JANUARY_2030, POLICY, NOW)
    plan = plans.get_plan(session, process.id)
    submitted = submit(session, process.id, "draft-1", drafter, document(drafter, [attendee]))
    assert submitted.problems == ()

    # The approval goes to another site manager, never the drafter.
    approver_id, role = plans.approver_for(session, plan)
    assert approver_id == person(session, "chenjing").id and role is None

    # Should the drafter get hold of the task anyway, the inbox refuses their decision ...
    approve = PlanDecision(outcome="approve")
    with pytest.raises(Forbidden):
        decide(session, process.id, 1, "draft-approval-1-1", drafter, approve)
    # ... and one recorded as theirs before that rule existed does not count either.
    session.execute(
        update(InboxTask)
        .where(InboxTask.process_id == process.id, InboxTask.step_key == "draft-approval-1-1")
        .values(state=TaskState.DONE, completed_by_id=drafter.id, completed_at=NOW)
    )
    assert not plans.record_decision(session, process.id, 1, approve, "draft-approval-1-1", NOW)
    assert plan.state == PlanState.SUBMITTED and plan.approved_version is None
    refused = session.scalars(
        select(TrainingPlanDecision).where(TrainingPlanDecision.process_id == process.id)
    ).one()
    assert refused.outcome == DecisionOutcome.SELF_APPROVAL_REFUSED
    assert session.scalar(
        select(Event.id).where(
            Event.process_id == process.id, Event.kind == "training_plan_self_approval_refused"
        )
    )
    # A replay of the same step decides nothing twice.
    assert not plans.record_decision(session, process.id, 1, approve, "draft-approval-1-1", NOW)

    manager = person(session, "chenjing")
    assert decide(session, process.id, 1, "draft-approval-1-2", manager, approve)
    assert plan.state == PlanState.APPROVED and plan.approved_by_id == manager.id


def test_only_manager_left_is_the_drafter_then_quality_decides(session: Session) -> None:
    drafter = new_person(session, Role.SUPERVISOR, Role.SITE_MANAGER)
    process = plans.start_plan(session, drafter, JANUARY_2030, POLICY, NOW)
    plan = plans.get_plan(session, process.id)
    chenjing = person(session, "chenjing")
    chenjing.active = False
    session.flush()
    assert plans.approver_for(session, plan) == (None, Role.QUALITY)


def test_each_decision_and_version_is_kept_and_the_diff_shows_the_changes(
    session: Session,
) -> None:
    supervisor = person(session, "zhaolei")
    manager = person(session, "chenjing")
    trainer = person(session, "lihua")
    staff = [person(session, "zhangmin"), person(session, "wangqiang")]
    process = plans.start_plan(session, supervisor, JANUARY_2030, POLICY, NOW)

    first = document(trainer, staff[:1])
    submit(session, process.id, "draft-1", supervisor, first)
    rejection = PlanDecision(outcome="reject", reason="预算偏低，范围应含王强")
    assert decide(session, process.id, 1, "draft-approval-1-1", manager, rejection)

    second = first.model_copy(deep=True)
    second.items[0].attendee_ids = [s.id for s in staff]
    second.budget[0].amount = second.budget[0].amount and second.budget[0].amount * 2
    submit(session, process.id, "draft-2", supervisor, second)

    number_from, number_to, changes = plans.plan_diff(session, process.id, None, None)
    assert (number_from, number_to) == (1, 2)
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("items.0.attendee_ids.1", None, staff[1].id),
        ("budget.0.amount", "200.00", "400.00"),
    ]
    plan = plans.get_plan(session, process.id)
    assert [v.number for v in plan.versions] == [1, 2]
    assert [(d.version_number, d.outcome, d.reason) for d in plan.decisions] == [
        (1, DecisionOutcome.REJECTED, "预算偏低，范围应含王强")
    ]
    # The drafter hears of the rejection with its reason.
    rejected = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.process_id == process.id,
            OutboxMessage.event == "training_plan_rejected",
            OutboxMessage.channel == "email",
        )
    ).all()
    assert [(m.recipient_id, "预算偏低" in m.body) for m in rejected] == [(supervisor.id, True)]


def test_version_diff_names_added_removed_and_changed_fields() -> None:
    before = {"title": "A", "items": [{"topic": "x", "hours": 1}], "budget": []}
    after = {"title": "B", "items": [{"topic": "x", "hours": 2}, {"topic": "y"}], "budget": []}
    assert [(c.path, c.before, c.after) for c in plans.version_diff(before, after)] == [
        ("title", "A", "B"),
        ("items.0.hours", 1, 2),
        ("items.1", None, {"topic": "y"}),
    ]


# --- after approval: sessions, the training record ---------------------------------------------


def approved_plan(session: Session, plan_document: PlanDocument) -> str:
    supervisor = person(session, "zhaolei")
    process = plans.start_plan(session, supervisor, JANUARY_2030, POLICY, NOW)
    submit(session, process.id, "draft-1", supervisor, plan_document)
    assert decide(
        session, process.id, 1, "draft-approval-1-1", person(session, "chenjing"),
        PlanDecision(outcome="approve"),
    )  # fmt: skip
    return process.id


def test_recurring_items_become_sessions_on_working_days(session: Session) -> None:
    trainer = person(session, "lihua")
    plan_document = document(trainer, [person(session, "zhangmin")])
    plan_document.items[0].cadence = Cadence.WEEKLY
    plan_document.items[0].sessions = []
    plan_document.items[0].session_time = datetime(2030, 1, 1, 9, 0).time()
    process_id = approved_plan(session, plan_document)
    ids = plans.schedule_sessions(session, process_id, CALENDAR, NOW)
    starts = [plans.get_session(session, process_id, i).starts_at for i in ids]
    days = [s.astimezone(CALENDAR.zone).date() for s in starts]
    assert days and all(CALENDAR.is_working_day(d) for d in days)
    assert all(s.astimezone(CALENDAR.zone).hour == 9 for s in starts)
    # Once: a replay schedules nothing more.
    assert plans.schedule_sessions(session, process_id, CALENDAR, NOW) == ids


def test_attendance_and_scores_form_the_training_record_and_its_csv(session: Session) -> None:
    trainer = person(session, "lihua")
    zhangmin, wangqiang = person(session, "zhangmin"), person(session, "wangqiang")
    process_id = approved_plan(session, document(trainer, [zhangmin, wangqiang]))
    (session_id,) = plans.schedule_sessions(session, process_id, CALENDAR, NOW)
    told = plans.announce_plan(session, process_id, NOW)
    assert told == 3  # two attendees and the trainer
    assert plans.announce_plan(session, process_id, NOW) == 0

    attendance = AttendanceDecision(
        held=True,
        attendance=[
            {"employee_id": zhangmin.id, "status": "present"},
            {"employee_id": wangqiang.id, "status": "excused", "note": "病假"},
            {"employee_id": person(session, "sunli").id, "status": "present"},
        ],
        summary="投诉处理流程",
    )
    key = f"session-{session_id}"
    complete_step(
        session, process_id, RECORD_SESSION, key, trainer, attendance.model_dump(mode="json")
    )
    outside = plans.record_attendance(session, process_id, session_id, attendance, key, POLICY, NOW)
    assert outside == [person(session, "sunli").id]  # not in the item's scope: not recorded
    assessment = AssessmentDecision(
        assessed_on=date(2030, 2, 1),
        scores=[
            {"employee_id": zhangmin.id, "written": 80, "practical": 70},
            {"employee_id": wangqiang.id, "written": 40, "practical": 50},
        ],
    )
    counts = plans.record_assessment(session, process_id, assessment, "assessment", POLICY, NOW)
    assert counts == {"passed": 1, "failed": 1}

    # Only this plan's lines: the end-to-end tests may have trained the same demo people.
    lines = [
        line
        for line in plans.training_record(session, [zhangmin])
        if line.plan == "2030-01 月度培训计划"
    ]
    assert [(line.topic, line.attendance, line.written) for line in lines] == [
        ("投诉处理", "present", None),
        ("assessment", "assessed", 80),
    ]
    rows = list(csv.reader(io.StringIO(plans.record_csv(lines).lstrip("\ufeff"))))
    assert rows[0] == list(plans.CSV_COLUMNS)
    assert rows[1][:8] == [
        zhangmin.display_name, "2030-01-08", "2030-01 月度培训计划", "投诉处理", "lecture",
        "1.5", trainer.display_name, "present",
    ]  # fmt: skip
    assert rows[2][-3:] == ["80", "70", "yes"]
    # Kept at least three years.
    record = plans.get_session(session, process_id, session_id).attendance[0]
    assert record.retain_until >= NOW.date() + timedelta(days=3 * 365)


def test_who_reads_a_training_record(session: Session) -> None:
    zhangmin, wangqiang = person(session, "zhangmin"), person(session, "wangqiang")
    assert plans.readable_record(session, zhangmin, zhangmin.id) == [zhangmin]
    with pytest.raises(Forbidden):
        plans.readable_record(session, zhangmin, wangqiang.id)
    assert plans.readable_record(session, person(session, "sunli"), wangqiang.id) == [wangqiang]


def test_only_the_people_a_plan_involves_read_it(session: Session) -> None:
    trainer, attendee = new_person(session, Role.STAFF), new_person(session, Role.STAFF)
    process_id = approved_plan(session, document(trainer, [attendee]))
    overseers = [person(session, name) for name in ("lihua", "zhaolei", "chenjing", "sunli")]
    for reader in (trainer, attendee, *overseers):
        assert involved_plan(session, reader, process_id).process_id == process_id
    # An engineer and a front-desk colleague the plan does not name see nothing.
    for outsider in (person(session, "liugong"), new_person(session, Role.STAFF)):
        with pytest.raises(NotFound):
            involved_plan(session, outsider, process_id)


def test_a_session_time_needs_its_time_zone() -> None:
    naive = {"items": [{"sessions": [{"starts_at": "2030-01-08T14:00:00"}]}]}
    with pytest.raises(Invalid) as refused:
        validate_form(PlanDocument, naive)
    (problem,) = refused.value.problems
    assert problem.loc == ("items", 0, "sessions", 0, "starts_at")
    assert problem.message == "Give the time zone too, e.g. 2027-01-05T09:00+08:00"
    aware = {"items": [{"sessions": [{"starts_at": "2030-01-08T14:00:00+08:00"}]}]}
    starts_at = validate_form(PlanDocument, aware).items[0].sessions[0].starts_at
    assert starts_at == datetime(2030, 1, 8, 6, 0, tzinfo=UTC)


def test_task_due_at_the_deadline_warns_and_escalates_on_the_ladder(session: Session) -> None:
    supervisor = person(session, "zhaolei")
    process = plans.start_plan(session, supervisor, JANUARY_2030, POLICY, NOW)
    plan = plans.get_plan(session, process.id)
    due_at, started = plans.clock_for(CALENDAR, plans.SUPERVISOR_LADDER, plan.draft_due_on)
    task = inbox.open_task(
        session,
        DRAFT,
        HumanRequest(
            process_id=process.id,
            key="draft-1",
            site_id=supervisor.site_id,
            assignee_id=supervisor.id,
            owner_of_record_id=supervisor.id,
            sla_ladder=plans.SUPERVISOR_LADDER,
            sla_started_at=started,
        ),
        str(uuid.uuid4()),
        NOW,
    )
    assert task.due_at == due_at == CALENDAR.end_of_service(date(2029, 12, 25))
    assert task.sla_rule == "training_plan/*/general/resolution"


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize(
    "event",
    [
        "training_plan_rejected",
        "training_plan_approved",
        "training_plan_announced",
        "training_plan_closed",
    ],
)
def test_plan_notifications_render(event: str, locale: str) -> None:
    context = {
        "recipient_name": "李娜",
        "task_url": None,
        "case_url": "https://kefu.example.cn/t/case",
        "process_subject": "2030-01 月度培训计划",
        "period": "2030-01",
        "version": 2,
        "reason": "预算偏低",
        "decided_by": "陈静",
        "findings": "整体达标",
        "sessions": [
            {"topic": "消防", "starts_at": NOW, "venue": "会议室", "role": "attend"},
        ],
    }
    for channel in ("email", "wecom", "wecom_bot"):
        message = render(event, channel, locale, context)
        assert "2030-01" in message.subject and "{{" not in message.body
    assert render(event, "email", locale, context).body_html


def test_kickoff_opens_the_plan_on_its_working_day_once(demo_org: None) -> None:
    from tasks.training_plan import open_due_plans

    period = plan_period(PlanKind.ANNUAL, 2033)
    opens_on = plan_deadlines(POLICY, CALENDAR, period).opens_on
    rest_day = next(
        opens_on + timedelta(days=n)
        for n in range(1, 10)
        if not CALENDAR.is_working_day(opens_on + timedelta(days=n))
    )
    day_before = working_days_before(CALENDAR, opens_on, 1)
    assert open_due_plans.fn(PlanKind.ANNUAL, day_before) == []
    assert open_due_plans.fn(PlanKind.ANNUAL, rest_day) == []
    opened = open_due_plans.fn(PlanKind.ANNUAL, opens_on)
    assert opened  # at least the demo site, which has a supervisor
    assert open_due_plans.fn(PlanKind.ANNUAL, opens_on) == []


def test_kickoff_opens_each_sites_plan_on_its_own_working_days(
    demo_org: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.training_plan import open_due_plans

    period = plan_period(PlanKind.ANNUAL, 2034)
    opens_on = plan_deadlines(POLICY, CALENDAR, period).opens_on
    # The demo site closes on the day drafting opens everywhere else.
    shared = load_calendars()
    closed = SiteCalendarChange.model_validate(
        {"site_overrides": {opens_on.year: {"closures": [opens_on.isoformat()]}}}
    )
    own = site_version(shared[POLICY.calendar], DEMO_SITE_CODE, closed)
    book = CalendarBook(shared, {DEMO_SITE_CODE: {POLICY.calendar: own}})
    monkeypatch.setattr(domain.calendars, "calendar_book", lambda: book)

    def sites_opened(day: date) -> set[str]:
        opened = open_due_plans.fn(PlanKind.ANNUAL, day)
        with transaction() as session:
            return set(
                session.scalars(select(Site.code).join(Process).where(Process.id.in_(opened)))
            )

    assert DEMO_SITE_CODE not in sites_opened(opens_on)
    assert DEMO_SITE_CODE in sites_opened(own.nth_working_day(opens_on, 1))


def test_the_plans_trainers_and_attendees_read_it_and_no_one_else(session: Session) -> None:
    trainer, attendee = person(session, "wangqiang"), person(session, "zhangmin")
    process_id = approved_plan(session, document(trainer, [attendee]))
    plans.schedule_sessions(session, process_id, CALENDAR, NOW)

    for reader in (trainer, attendee):
        assert get_process(session, reader, process_id).id == process_id
    with pytest.raises(NotFound):
        get_process(session, person(session, "liugong"), process_id)
