"""Training plans (培训计划): drafting and approval, announcement, sessions, attendance,
assessment and analysis, and the training record of each employee.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import (
    AssessmentResult,
    AttendanceRecord,
    InboxTask,
    Process,
    ProcessKind,
    ProcessState,
    Role,
    TaskState,
    TrainingPlan,
    TrainingPlanDecision,
    TrainingPlanVersion,
    TrainingSession,
    User,
)
from db.models.training_plan import DecisionOutcome, PlanState, SessionState
from domain.calendars import site_calendars
from domain.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from domain.events import EventKind, record_event
from domain.people import get_user, users_with_role
from domain.sla import sla_book
from forms.training_plan import (
    AnalysisDecision,
    AssessmentDecision,
    AttendanceDecision,
    PlanDecision,
    PlanDocument,
    TrainingPlanCreate,
)
from notify.outbox import enqueue, enqueue_about_case
from rules.calendar import WorkingCalendar
from rules.training_plan import (
    PlanKind,
    PlanPeriod,
    TrainingPlanPolicy,
    clock_start,
    expand_cadence,
    plan_deadlines,
    plan_period,
    plan_problems,
    session_moments,
)

# Who drafts plans, and who approves them (never the drafter).
DRAFTING_ROLE = Role.SUPERVISOR
APPROVING_ROLE = Role.SITE_MANAGER
# When no other site manager is there to approve, the company quality department decides.
FALLBACK_APPROVING_ROLE = Role.QUALITY
# The SLA ladders (rules/sla_ladders.yaml) of the plan's tasks, by who holds them.
SUPERVISOR_LADDER = "training_plan/*/general"
APPROVAL_LADDER = "training_plan/approval/general"
SESSION_LADDER = "training_plan/session/general"
# The steps whose tasks draft or revise the plan; submitting through the API completes them.
DRAFTING_STEPS = ("training_plan.draft", "training_plan.revise")
# The event a manager's decision on a version records.
DECISION_EVENTS = {
    DecisionOutcome.APPROVED: EventKind.TRAINING_PLAN_APPROVED,
    DecisionOutcome.REJECTED: EventKind.TRAINING_PLAN_REJECTED,
    DecisionOutcome.SELF_APPROVAL_REFUSED: EventKind.TRAINING_PLAN_SELF_APPROVAL_REFUSED,
}
CSV_COLUMNS = (
    "employee",
    "date",
    "plan",
    "topic",
    "method",
    "hours",
    "trainer",
    "attendance",
    "written",
    "practical",
    "passed",
)
PERIOD_NAMES = {PlanKind.ANNUAL: "年度培训计划", PlanKind.MONTHLY: "月度培训计划"}


@dataclass(frozen=True)
class SubmittedVersion:
    """A submitted version and what keeps it from a decision (empty: the manager decides)."""

    number: int
    problems: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Change:
    """One field that differs between two versions of a plan."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class RecordLine:
    """One line of an employee's training record (《培训记录表》)."""

    employee: str
    day: date
    plan: str
    topic: str
    method: str
    hours: Decimal | None
    trainer: str
    attendance: str
    written: int | None = None
    practical: int | None = None
    passed: bool | None = None


# --- starting a plan ---------------------------------------------------------------------------


def _period(intake: TrainingPlanCreate) -> PlanPeriod:
    return plan_period(intake.kind, intake.year, intake.month)


def open_plan(
    session: Session,
    site_id: int,
    period: PlanPeriod,
    policy: TrainingPlanPolicy,
    started_by: User,
    drafter: User | None,
    now: datetime,
) -> Process:
    """Record a plan for the site and period with its deadlines; return its process."""
    if session.scalar(
        select(TrainingPlan.process_id).where(
            TrainingPlan.site_id == site_id,
            TrainingPlan.kind == period.kind,
            TrainingPlan.period_starts_on == period.starts_on,
        )
    ):
        raise Conflict("The {period} plan of this site already exists", period=period.label)
    calendar = site_calendars(session, site_id)[policy.calendar]
    deadlines = plan_deadlines(policy, calendar, period)
    process = Process(
        kind=ProcessKind.TRAINING_PLAN,
        site_id=site_id,
        subject=f"{period.label} {PERIOD_NAMES[period.kind]}",
        state=ProcessState.STARTING,
        started_by_id=started_by.id,
        started_at=now,
    )
    session.add(process)
    session.flush()
    session.add(
        TrainingPlan(
            process_id=process.id,
            site_id=site_id,
            kind=period.kind,
            period_starts_on=period.starts_on,
            period_ends_on=period.ends_on,
            drafter_id=drafter.id if drafter else None,
            opens_on=deadlines.opens_on,
            draft_due_on=deadlines.draft_due_on,
            approval_due_on=deadlines.approval_due_on,
            deadline_rule=(
                f"training_plan/{period.kind}/{policy.deadline_on_rest_day}@{calendar.name}"
            ),
            created_at=now,
        )
    )
    session.flush()
    record_event(
        session,
        process_id=process.id,
        kind=EventKind.TRAINING_PLAN_STARTED,
        at=now,
        actor_id=drafter.id if drafter else None,
        data={
            "kind": period.kind,
            "period": period.label,
            "draft_due_on": deadlines.draft_due_on.isoformat(),
            "approval_due_on": deadlines.approval_due_on.isoformat(),
        },
    )
    return process


def start_plan(
    session: Session,
    actor: User,
    intake: TrainingPlanCreate,
    policy: TrainingPlanPolicy,
    now: datetime,
) -> Process:
    """Start drafting a plan as a supervisor, who drafts it; return its process."""
    if not actor.has_role(DRAFTING_ROLE):
        raise Forbidden("Only a customer-service supervisor drafts training plans")
    period = _period(intake)
    calendar = site_calendars(session, actor.site_id)[policy.calendar]
    if period.ends_on < now.astimezone(calendar.zone).date():
        raise Invalid.field("year", "The plan's period is over")
    return open_plan(session, actor.site_id, period, policy, actor, actor, now)


def open_scheduled_plan(
    session: Session, site_id: int, period: PlanPeriod, policy: TrainingPlanPolicy, now: datetime
) -> Process | None:
    """Open the site's plan for the period when the schedule says so; None if it exists already.

    The site's supervisors find the drafting task in their queue; the first of them is recorded
    as having started it (a process has a person who started it).
    """
    supervisors = users_with_role(session, site_id, DRAFTING_ROLE)
    if not supervisors:
        return None
    try:
        with session.begin_nested():
            return open_plan(session, site_id, period, policy, supervisors[0], None, now)
    except (Conflict, IntegrityError):
        return None


def get_plan(session: Session, process_id: str) -> TrainingPlan:
    """Return the training plan of a process, or raise NotFound."""
    plan = session.get(TrainingPlan, process_id)
    if plan is None:
        raise NotFound("Training plan {process_id} does not exist", process_id=process_id)
    return plan


def readable_plan(session: Session, user: User, process_id: str) -> TrainingPlan:
    """Return the plan if `user` works at its site (plans are communicated to everyone there)."""
    plan = get_plan(session, process_id)
    if plan.site_id != user.site_id and not user.has_role(Role.OPS_ADMIN):
        raise NotFound("Training plan {process_id} does not exist", process_id=process_id)
    return plan


def plan_period_of(plan: TrainingPlan) -> PlanPeriod:
    """Return the period the plan covers."""
    return PlanPeriod(PlanKind(plan.kind), plan.period_starts_on, plan.period_ends_on)


# --- drafting and deciding ---------------------------------------------------------------------


def document_problems(
    session: Session, plan: TrainingPlan, document: PlanDocument, policy: TrainingPlanPolicy
) -> list[FieldProblem]:
    """Return every reason the document cannot be submitted, each at its field path."""
    calendar = site_calendars(session, plan.site_id)[policy.calendar]
    problems = plan_problems(document, plan_period_of(plan), policy, calendar.zone)
    for i, item in enumerate(document.items):
        if item.trainer_id is not None and not _colleague(session, item.trainer_id, plan.site_id):
            problems.append(
                FieldProblem(("items", i, "trainer_id"), "No active colleague with this id here")
            )
        for j, attendee_id in enumerate(item.attendee_ids):
            if not _colleague(session, attendee_id, plan.site_id):
                problems.append(
                    FieldProblem(
                        ("items", i, "attendee_ids", j), "No active colleague with this id here"
                    )
                )
    return problems


def _colleague(session: Session, user_id: int, site_id: int) -> bool:
    user = session.get(User, user_id)
    return user is not None and user.active and user.site_id == site_id


def drafting_task(session: Session, user: User, process_id: str) -> InboxTask:
    """Return the plan's open drafting or revising task, if `user` may submit it."""
    readable_plan(session, user, process_id)
    task = session.scalar(
        select(InboxTask).where(
            InboxTask.process_id == process_id,
            InboxTask.state == TaskState.OPEN,
            InboxTask.step.in_(DRAFTING_STEPS),
        )
    )
    if task is None:
        raise Conflict("The plan is not waiting for a draft")
    return task


def check_submission(
    session: Session, process_id: str, document: PlanDocument, policy: TrainingPlanPolicy
) -> None:
    """Refuse a plan that is not fit to submit, naming every problem at once."""
    problems = document_problems(session, get_plan(session, process_id), document, policy)
    if problems:
        raise Invalid(problems)


def completed_by(session: Session, process_id: str, step_key: str) -> int | None:
    """Return who completed the process's task with `step_key`."""
    return session.scalar(
        select(InboxTask.completed_by_id).where(
            InboxTask.process_id == process_id, InboxTask.step_key == step_key
        )
    )


def record_version(
    session: Session,
    process_id: str,
    document: PlanDocument,
    key: str,
    policy: TrainingPlanPolicy,
    now: datetime,
) -> SubmittedVersion:
    """Keep a submitted document as the plan's next version, once per step; say if it is fit."""
    plan = get_plan(session, process_id)
    existing = session.scalar(
        select(TrainingPlanVersion).where(
            TrainingPlanVersion.process_id == process_id, TrainingPlanVersion.step_key == key
        )
    )
    if existing is not None:
        return SubmittedVersion(existing.number, tuple(existing.problems))
    # The API refuses an unfit plan; a submission through the generic inbox is checked here.
    problems = [
        {"loc": list(p.loc), "message": p.message, "params": p.params}
        for p in document_problems(session, plan, document, policy)
    ]
    submitter = completed_by(session, process_id, key)
    number = len(plan.versions) + 1
    session.add(
        TrainingPlanVersion(
            process_id=process_id,
            number=number,
            step_key=key,
            document=document.model_dump(mode="json"),
            problems=problems,
            submitted_by_id=submitter,
            submitted_at=now,
        )
    )
    if plan.drafter_id is None:
        plan.drafter_id = submitter
    plan.state = PlanState.DRAFTING if problems else PlanState.SUBMITTED
    session.flush()
    session.expire(plan, ["versions"])
    record_event(
        session,
        process_id=process_id,
        kind=(
            EventKind.TRAINING_PLAN_SUBMITTED
            if not problems
            else EventKind.TRAINING_PLAN_INCOMPLETE
        ),
        at=now,
        actor_id=submitter,
        data={"version": number, "problems": problems},
        dedup_key=f"{process_id}:version:{key}",
    )
    return SubmittedVersion(number, tuple(problems))


def approver_for(session: Session, plan: TrainingPlan) -> tuple[int | None, Role | None]:
    """Return who approves: a site manager who did not draft it, else the quality queue."""
    for manager in users_with_role(session, plan.site_id, APPROVING_ROLE):
        if manager.id != plan.drafter_id:
            return manager.id, None
    return None, FALLBACK_APPROVING_ROLE


def record_decision(
    session: Session,
    process_id: str,
    version: int,
    decision: PlanDecision,
    key: str,
    now: datetime,
) -> bool:
    """Keep the manager's decision on a version; return False if it was the drafter's own."""
    plan = get_plan(session, process_id)
    decided = session.scalar(
        select(TrainingPlanDecision).where(
            TrainingPlanDecision.process_id == process_id, TrainingPlanDecision.step_key == key
        )
    )
    if decided is not None:
        return decided.outcome != DecisionOutcome.SELF_APPROVAL_REFUSED
    decider = completed_by(session, process_id, key)
    drafters = {plan.drafter_id, _version(plan, version).submitted_by_id} - {None}
    if decider in drafters:
        outcome = DecisionOutcome.SELF_APPROVAL_REFUSED
    elif decision.outcome == "approve":
        outcome = DecisionOutcome.APPROVED
    else:
        outcome = DecisionOutcome.REJECTED
    session.add(
        TrainingPlanDecision(
            process_id=process_id,
            version_number=version,
            step_key=key,
            outcome=outcome,
            reason=decision.reason,
            decided_by_id=decider,
            decided_at=now,
        )
    )
    session.flush()
    session.expire(plan, ["decisions"])
    record_event(
        session,
        process_id=process_id,
        kind=DECISION_EVENTS[outcome],
        at=now,
        actor_id=decider,
        data={"version": version, "reason": decision.reason},
        dedup_key=f"{process_id}:decision:{key}",
    )
    decider_name = get_user(session, decider).display_name if decider else ""
    details = {"version": version, "reason": decision.reason, "decided_by": decider_name}
    if outcome is DecisionOutcome.APPROVED:
        plan.state = PlanState.APPROVED
        plan.approved_version, plan.approved_by_id, plan.approved_at = version, decider, now
        _tell(session, plan, "training_plan_approved", key, [plan.drafter_id, decider], details)
    elif outcome is DecisionOutcome.REJECTED:
        plan.state = PlanState.DRAFTING
        _tell(session, plan, "training_plan_rejected", key, [plan.drafter_id], details)
    return outcome is not DecisionOutcome.SELF_APPROVAL_REFUSED


def _version(plan: TrainingPlan, number: int) -> TrainingPlanVersion:
    for version in plan.versions:
        if version.number == number:
            return version
    raise NotFound("Version {number} of the plan does not exist", number=number)


def version_document(session: Session, process_id: str, number: int) -> dict[str, Any]:
    """Return the document of one version of the plan."""
    return dict(_version(get_plan(session, process_id), number).document)


# --- what changed between versions -------------------------------------------------------------


def version_diff(before: Any, after: Any, path: str = "") -> list[Change]:
    """Return the fields that differ between two plan documents, by dotted path."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[Change] = []
        for key in dict.fromkeys([*before, *after]):
            child = f"{path}.{key}" if path else str(key)
            changes += version_diff(before.get(key), after.get(key), child)
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            child = f"{path}.{index}" if path else str(index)
            old = before[index] if index < len(before) else None
            new = after[index] if index < len(after) else None
            changes += version_diff(old, new, child)
        return changes
    return [] if before == after else [Change(path, before, after)]


def plan_diff(
    session: Session, process_id: str, from_version: int | None, to_version: int | None
) -> tuple[int, int, list[Change]]:
    """Return the two version numbers compared (default: the last two) and what changed."""
    plan = get_plan(session, process_id)
    numbers = [v.number for v in plan.versions]
    if not numbers:
        raise Conflict("The plan has no submitted version yet")
    to_number = to_version or numbers[-1]
    from_number = from_version or max((n for n in numbers if n < to_number), default=to_number)
    before = _version(plan, from_number).document
    after = _version(plan, to_number).document
    return from_number, to_number, version_diff(before, after)


def changes_view(changes: Iterable[Change]) -> list[dict[str, Any]]:
    """Return changes as JSON-ready dicts (for task context and the API)."""
    return [{"path": c.path, "before": c.before, "after": c.after} for c in changes]


# --- after approval: announcement and sessions -------------------------------------------------


def _document(plan: TrainingPlan) -> PlanDocument:
    if plan.approved_version is None:
        raise Conflict("The plan is not approved yet")
    return PlanDocument.model_validate(_version(plan, plan.approved_version).document)


def scope(session: Session, plan: TrainingPlan, item_index: int) -> list[User]:
    """Return the active people who attend an item: named ones and everyone with a named role."""
    items = _document(plan).items
    if item_index >= len(items):
        return []  # a revision after the sessions dropped this item
    item = items[item_index]
    people: dict[int, User] = {}
    for user_id in item.attendee_ids:
        user = session.get(User, user_id)
        if user is not None and user.active:
            people[user.id] = user
    for role in item.attendee_roles:
        people.update((u.id, u) for u in users_with_role(session, plan.site_id, role))
    return sorted(people.values(), key=lambda u: u.id)


def schedule_sessions(
    session: Session, process_id: str, calendar: WorkingCalendar, now: datetime
) -> list[int]:
    """Create the approved plan's sessions once (recurring items on working days); return ids."""
    plan = get_plan(session, process_id)
    existing = session_ids(session, process_id)
    if existing:
        return existing
    document = _document(plan)
    for index, item in enumerate(document.items):
        assert item.trainer_id is not None and item.hours is not None and item.method is not None
        if item.cadence is not None and item.session_time is not None:
            days = expand_cadence(
                calendar, item.cadence, plan.period_starts_on, plan.period_ends_on
            )
            moments = [(m, item.venue) for m in session_moments(calendar, days, item.session_time)]
        else:
            moments = [(s.starts_at, s.venue or item.venue) for s in item.sessions if s.starts_at]
        for starts_at, venue in moments:
            session.add(
                TrainingSession(
                    process_id=process_id,
                    item_index=index,
                    topic=item.topic,
                    trainer_id=item.trainer_id,
                    method=item.method,
                    hours=Decimal(str(item.hours)),
                    venue=venue,
                    starts_at=starts_at,
                )
            )
    session.flush()
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.TRAINING_SESSIONS_SCHEDULED,
        at=now,
        data={"count": len(session_ids(session, process_id))},
        dedup_key=f"{process_id}:sessions-scheduled:{plan.approved_version}",
    )
    return session_ids(session, process_id)


def session_ids(session: Session, process_id: str) -> list[int]:
    return list(
        session.scalars(
            select(TrainingSession.id)
            .where(TrainingSession.process_id == process_id)
            .order_by(TrainingSession.starts_at, TrainingSession.id)
        )
    )


def get_session(session: Session, process_id: str, session_id: int) -> TrainingSession:
    """Return one session of the plan, or raise NotFound."""
    found = session.get(TrainingSession, session_id)
    if found is None or found.process_id != process_id:
        raise NotFound("Training session {id} does not exist", id=session_id)
    return found


def announce_plan(session: Session, process_id: str, now: datetime) -> int:
    """Tell every attendee and trainer their sessions of the approved plan (计划沟通), once."""
    plan = get_plan(session, process_id)
    sessions = [get_session(session, process_id, i) for i in session_ids(session, process_id)]
    mine: dict[int, list[dict[str, Any]]] = {}
    people: dict[int, User] = {}
    for index in sorted({s.item_index for s in sessions}):
        for user in scope(session, plan, index):
            people[user.id] = user
            mine.setdefault(user.id, []).extend(
                _session_line(s, "attend") for s in sessions if s.item_index == index
            )
    for training_session in sessions:
        trainer = get_user(session, training_session.trainer_id)
        people[trainer.id] = trainer
        mine.setdefault(trainer.id, []).append(_session_line(training_session, "train"))
    event = record_event(
        session,
        process_id=process_id,
        kind=EventKind.TRAINING_PLAN_ANNOUNCED,
        at=now,
        data={"version": plan.approved_version, "recipient_ids": sorted(people)},
        dedup_key=f"{process_id}:announced:{plan.approved_version}",
    )
    if event is None:
        return 0
    plan.state = PlanState.ANNOUNCED
    plan.announced_at = now
    process = session.get_one(Process, process_id)
    for user_id, user in sorted(people.items()):
        lines = sorted(mine[user_id], key=lambda line: line["starts_at"])
        enqueue(
            session,
            event="training_plan_announced",
            recipients=[user],
            context={
                "process_subject": process.subject,
                "period": plan_period_of(plan).label,
                "version": plan.approved_version,
                "sessions": lines,
            },
            dedup_key=f"{process_id}:training_plan_announced:{plan.approved_version}",
            process_id=process_id,
        )
    return len(people)


def _session_line(training_session: TrainingSession, role: str) -> dict[str, Any]:
    return {
        "topic": training_session.topic,
        "starts_at": training_session.starts_at,
        "venue": training_session.venue,
        "role": role,
    }


def record_attendance(
    session: Session,
    process_id: str,
    session_id: int,
    decision: AttendanceDecision,
    key: str,
    policy: TrainingPlanPolicy,
    now: datetime,
) -> list[int]:
    """Record a session as held (with attendance) or cancelled, once; return ids not in scope."""
    plan = get_plan(session, process_id)
    training_session = get_session(session, process_id, session_id)
    in_scope = {u.id for u in scope(session, plan, training_session.item_index)}
    outside = [e.employee_id for e in decision.attendance if e.employee_id not in in_scope]
    recorder = completed_by(session, process_id, key)
    event = record_event(
        session,
        process_id=process_id,
        kind=(
            EventKind.TRAINING_SESSION_HELD
            if decision.held
            else EventKind.TRAINING_SESSION_CANCELLED
        ),
        at=now,
        actor_id=recorder,
        data={
            "session_id": session_id,
            "summary": decision.summary,
            "attendance": {e.employee_id: e.status for e in decision.attendance},
            "not_in_scope": outside,
        },
        dedup_key=f"{process_id}:{key}",
    )
    if event is None:
        return outside
    training_session.state = SessionState.HELD if decision.held else SessionState.CANCELLED
    training_session.summary = decision.summary
    training_session.recorded_by_id = recorder
    training_session.recorded_at = now
    retain_until = _retain_until(now, policy)
    for entry in decision.attendance:
        if entry.employee_id in outside:
            continue
        session.add(
            AttendanceRecord(
                session_id=session_id,
                employee_id=entry.employee_id,
                status=entry.status,
                note=entry.note,
                recorded_at=now,
                retain_until=retain_until,
            )
        )
    session.flush()
    return outside


def _retain_until(now: datetime, policy: TrainingPlanPolicy) -> date:
    today = now.date()
    try:
        return today.replace(year=today.year + policy.retention_years)
    except ValueError:  # February 29 of a leap year
        return today.replace(year=today.year + policy.retention_years, day=28)


def begin_assessment(session: Session, process_id: str, now: datetime) -> None:
    """Mark every session recorded and the assessment due."""
    plan = get_plan(session, process_id)
    if plan.state in (PlanState.ANNOUNCED, PlanState.APPROVED):
        plan.state = PlanState.ASSESSING
        record_event(
            session,
            process_id=process_id,
            kind=EventKind.TRAINING_SESSIONS_RECORDED,
            at=now,
            dedup_key=f"{process_id}:sessions-recorded",
        )


def record_assessment(
    session: Session,
    process_id: str,
    decision: AssessmentDecision,
    key: str,
    policy: TrainingPlanPolicy,
    now: datetime,
) -> dict[str, int]:
    """Keep each employee's written and practical scores, once; return passed/failed counts."""
    plan = get_plan(session, process_id)
    assessor = completed_by(session, process_id, key)
    passed = {
        s.employee_id: (s.written + s.practical) / 2 >= policy.pass_mark for s in decision.scores
    }
    counts = {"passed": sum(passed.values()), "failed": len(passed) - sum(passed.values())}
    event = record_event(
        session,
        process_id=process_id,
        kind=EventKind.TRAINING_ASSESSED,
        at=now,
        actor_id=assessor,
        data={"assessed_on": decision.assessed_on.isoformat(), **counts},
        dedup_key=f"{process_id}:{key}",
    )
    if event is None:
        return counts
    retain_until = _retain_until(now, policy)
    for score in decision.scores:
        if not _colleague(session, score.employee_id, plan.site_id):
            continue
        session.add(
            AssessmentResult(
                process_id=process_id,
                employee_id=score.employee_id,
                assessed_on=decision.assessed_on,
                written=score.written,
                practical=score.practical,
                passed=passed[score.employee_id],
                note=score.note,
                assessed_by_id=assessor,
                recorded_at=now,
                retain_until=retain_until,
            )
        )
    plan.state = PlanState.ANALYSING
    session.flush()
    return counts


def record_analysis(
    session: Session, process_id: str, decision: AnalysisDecision, key: str, now: datetime
) -> None:
    """Keep the supervisor's analysis; a requested revision goes back for approval."""
    plan = get_plan(session, process_id)
    event = record_event(
        session,
        process_id=process_id,
        kind=EventKind.TRAINING_ANALYSED,
        at=now,
        actor_id=completed_by(session, process_id, key),
        data=decision.model_dump(mode="json"),
        dedup_key=f"{process_id}:{key}",
    )
    if event is None:
        return
    plan.analysis = decision.model_dump(mode="json")
    if decision.revise_plan:
        plan.state = PlanState.REVISING


def close_plan(session: Session, process_id: str, now: datetime) -> None:
    """Close the plan and its process and tell the drafter and the approver."""
    plan = get_plan(session, process_id)
    if plan.state == PlanState.CLOSED:
        return
    plan.state = PlanState.CLOSED
    process = session.get_one(Process, process_id)
    process.state, process.closed_at, process.current_step = ProcessState.CLOSED, now, None
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.TRAINING_PLAN_CLOSED,
        at=now,
        data={"version": plan.approved_version},
        dedup_key=f"{process_id}:closed",
    )
    analysis = plan.analysis or {}
    _tell(
        session,
        plan,
        "training_plan_closed",
        "closed",
        [plan.drafter_id, plan.approved_by_id],
        {"version": plan.approved_version, "findings": analysis.get("findings", "")},
    )


# --- the training record -----------------------------------------------------------------------


def readable_record(session: Session, user: User, employee_id: int | None) -> list[User]:
    """Return whose training record `user` may read: their own, or their site's as a manager/HR."""
    if employee_id == user.id:
        return [user]
    if not (user.manages or user.has_role(Role.HR)):
        raise Forbidden("Only managers and HR see other people's training records")
    if employee_id is None:
        return list(
            session.scalars(select(User).where(User.site_id == user.site_id).order_by(User.id))
        )
    employee = session.get(User, employee_id)
    if employee is None or (employee.site_id != user.site_id and not user.has_role(Role.OPS_ADMIN)):
        raise NotFound("User {user_id} does not exist", user_id=employee_id)
    return [employee]


def training_record(session: Session, employees: Sequence[User]) -> list[RecordLine]:
    """Return the employees' training record: sessions attended and assessment scores."""
    names = {u.id: u.display_name for u in employees}
    # A session's date is the date at the employee's site, not in UTC.
    zones = {u.id: ZoneInfo(u.site.timezone) for u in employees}
    rows = session.execute(
        select(AttendanceRecord, TrainingSession, Process.subject)
        .join(TrainingSession, AttendanceRecord.session_id == TrainingSession.id)
        .join(Process, Process.id == TrainingSession.process_id)
        .where(AttendanceRecord.employee_id.in_(names))
        .order_by(TrainingSession.starts_at, AttendanceRecord.id)
    ).all()
    trainers = _names(session, {s.trainer_id for _, s, _ in rows})
    lines = [
        RecordLine(
            employee=names[a.employee_id],
            day=s.starts_at.astimezone(zones[a.employee_id]).date(),
            plan=subject,
            topic=s.topic,
            method=s.method,
            hours=s.hours,
            trainer=trainers[s.trainer_id],
            attendance=a.status,
        )
        for a, s, subject in rows
    ]
    scores = session.execute(
        select(AssessmentResult, Process.subject)
        .join(Process, Process.id == AssessmentResult.process_id)
        .where(AssessmentResult.employee_id.in_(names))
        .order_by(AssessmentResult.assessed_on, AssessmentResult.id)
    ).all()
    assessors = _names(session, {r.assessed_by_id for r, _ in scores if r.assessed_by_id})
    lines += [
        RecordLine(
            employee=names[r.employee_id],
            day=r.assessed_on,
            plan=subject,
            topic="assessment",
            method="written+practical",
            hours=None,
            trainer=assessors.get(r.assessed_by_id or 0, ""),
            attendance="assessed",
            written=r.written,
            practical=r.practical,
            passed=r.passed,
        )
        for r, subject in scores
    ]
    return sorted(lines, key=lambda line: (line.employee, line.day))


def _names(session: Session, user_ids: set[int]) -> dict[int, str]:
    return dict(
        session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()
    )


def record_csv(lines: Iterable[RecordLine]) -> str:
    """Return the training record as CSV (UTF-8 with BOM, so spreadsheet tools read Chinese)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow(
            [
                line.employee,
                line.day.isoformat(),
                line.plan,
                line.topic,
                line.method,
                "" if line.hours is None else f"{line.hours.normalize():f}",
                line.trainer,
                line.attendance,
                "" if line.written is None else line.written,
                "" if line.practical is None else line.practical,
                "" if line.passed is None else ("yes" if line.passed else "no"),
            ]
        )
    return out.getvalue()


# --- deadlines of the plan's tasks ---------------------------------------------------------------


def clock_for(calendar: WorkingCalendar, ladder: str, due_on: date) -> tuple[datetime, datetime]:
    """Return (due time, clock start) of a task due at the end of service on `due_on`.

    The clock starts the ladder's resolution target before the deadline, so the sweep warns and
    escalates it exactly as the ladder says while the due time stays the calendar's.
    """
    target = sla_book().ladder_for(*ladder.split("/")).targets.resolution
    assert target.working_days is not None, f"{ladder}: resolution must be in working days"
    return calendar.end_of_service(due_on), clock_start(calendar, due_on, target.working_days)


def _tell(
    session: Session,
    plan: TrainingPlan,
    event: str,
    key: str,
    recipient_ids: Iterable[int | None],
    details: dict[str, Any],
) -> None:
    process = session.get_one(Process, plan.process_id)
    enqueue_about_case(
        session,
        process_id=plan.process_id,
        event=event,
        key=key,
        recipient_ids=recipient_ids,
        context={
            "process_subject": process.subject,
            "period": plan_period_of(plan).label,
            **details,
        },
    )
