"""Prefect tasks of the training plan; each write is replay-safe, in its own transaction.

The flow routes by what these tasks returned (cached per run), never by a fresh read, so a replay
after a resume walks the same path as the first run.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prefect import task
from sqlalchemy import select

from db.base import utcnow
from db.models import Process, Site, User
from db.session import reading, transaction
from domain import training_plan as plans
from domain.calendars import process_calendar, site_calendars
from domain.training_plan import SubmittedVersion
from forms.training_plan import (
    AnalysisDecision,
    AssessmentDecision,
    AttendanceDecision,
    PlanDecision,
    PlanDocument,
)
from rules.training_plan import (
    PlanKind,
    assessment_window,
    load_policy,
    next_period,
    plan_deadlines,
    start_of_service,
    working_days_after,
)
from tasks.process_runs import start_process_run
from tasks.replay import FRESH_READ, REPLAY_SAFE
from tasks.retries import ON_TRANSIENT_DB_ERROR


@dataclass(frozen=True)
class Deadline:
    """When a task is due and when its SLA clock starts (so it is due then)."""

    due_at: datetime
    clock_started_at: datetime


@dataclass(frozen=True)
class PlanCase:
    """What the flow needs to route a plan's steps, read fresh."""

    process_id: str
    site_id: int
    subject: str
    period: str
    drafter_id: int | None
    approver_id: int | None
    approver_role: str | None
    draft: Deadline  # the first draft: the rule book's deadline
    approval: Deadline
    revision: Deadline  # a revision after a rejection: a few working days from now
    assessment_opens_at: datetime
    assessment: Deadline
    analysis: Deadline
    last_version: int | None
    last_reason: str
    last_problems: list[dict[str, Any]]


@dataclass(frozen=True)
class SessionBrief:
    """A session as the trainer's task shows it."""

    id: int
    topic: str
    starts_at: datetime
    venue: str
    trainer_id: int
    attendees: list[dict[str, Any]]


@task(name="load-training-plan", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def load_plan(process_id: str) -> PlanCase:
    """Return the routing facts of a plan, with the deadlines of the steps it may open now."""
    policy = load_policy()
    with reading() as session:
        calendar = process_calendar(session, process_id, policy.calendar)
        today = utcnow().astimezone(calendar.zone).date()
        plan = plans.get_plan(session, process_id)
        period = plans.plan_period_of(plan)
        approver_id, approver_role = plans.approver_for(session, plan)
        opens_on, assessment_due = assessment_window(policy, calendar, period)
        last = plan.versions[-1] if plan.versions else None
        reasons = [d.reason for d in plan.decisions if d.reason]

        def deadline(ladder: str, due_on: date) -> Deadline:
            return Deadline(*plans.clock_for(calendar, ladder, due_on))

        revision_due = working_days_after(calendar, today, policy.revision_working_days)
        return PlanCase(
            process_id=process_id,
            site_id=plan.site_id,
            subject=session.get_one(Process, process_id).subject,
            period=period.label,
            drafter_id=plan.drafter_id,
            approver_id=approver_id,
            approver_role=approver_role,
            draft=deadline(plans.SUPERVISOR_LADDER, plan.draft_due_on),
            approval=deadline(plans.APPROVAL_LADDER, max(plan.approval_due_on, today)),
            revision=deadline(plans.SUPERVISOR_LADDER, revision_due),
            assessment_opens_at=start_of_service(calendar, opens_on),
            assessment=deadline(plans.SUPERVISOR_LADDER, assessment_due),
            analysis=deadline(
                plans.SUPERVISOR_LADDER,
                working_days_after(calendar, today, policy.analysis_working_days),
            ),
            last_version=last.number if last else None,
            last_reason=reasons[-1] if reasons else "",
            last_problems=list(last.problems) if last else [],
        )


@task(
    name="record-plan-version",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def record_version(process_id: str, document: PlanDocument, key: str) -> SubmittedVersion:
    """Keep the submitted plan as its next version; return it with any problems found."""
    with transaction() as session:
        return plans.record_version(session, process_id, document, key, load_policy(), utcnow())


@task(
    name="plan-approval-context",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def approval_context(process_id: str, version: int) -> dict[str, Any]:
    """Return what the approver sees: the version, what changed since the last one, decisions."""
    with transaction() as session:
        plan = plans.get_plan(session, process_id)
        _, _, changes = plans.plan_diff(session, process_id, None, version)
        drafter = session.get(User, plan.drafter_id) if plan.drafter_id else None
        return {
            "version": version,
            "drafter": drafter.display_name if drafter else "",
            "document": plans.version_document(session, process_id, version),
            "changes": plans.changes_view(changes),
            "decisions": [
                {"version": d.version_number, "outcome": d.outcome, "reason": d.reason}
                for d in plan.decisions
            ],
        }


@task(
    name="record-plan-decision",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def record_decision(process_id: str, version: int, decision: PlanDecision, key: str) -> bool:
    """Keep the decision; return False when the drafter decided on their own plan."""
    with transaction() as session:
        return plans.record_decision(session, process_id, version, decision, key, utcnow())


@task(
    name="schedule-training-sessions",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def schedule_sessions(process_id: str, version: int) -> list[int]:
    """Create the approved version's sessions on working days; return their ids in date order."""
    with transaction() as session:
        calendar = process_calendar(session, process_id, load_policy().calendar)
        return plans.schedule_sessions(session, process_id, calendar, utcnow())


@task(
    name="announce-training-plan",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def announce_plan(process_id: str, version: int) -> int:
    """Tell every attendee and trainer their sessions (计划沟通); return how many were told."""
    with transaction() as session:
        return plans.announce_plan(session, process_id, utcnow())


@task(name="load-training-session", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def load_session(process_id: str, session_id: int) -> SessionBrief:
    """Return a session with the people in its scope."""
    with transaction() as session:
        plan = plans.get_plan(session, process_id)
        found = plans.get_session(session, process_id, session_id)
        return SessionBrief(
            id=found.id,
            topic=found.topic,
            starts_at=found.starts_at,
            venue=found.venue,
            trainer_id=found.trainer_id,
            attendees=[
                {"id": u.id, "name": u.display_name}
                for u in plans.scope(session, plan, found.item_index)
            ],
        )


@task(
    name="record-attendance", cache_policy=REPLAY_SAFE, persist_result=True, **ON_TRANSIENT_DB_ERROR
)
def record_attendance(
    process_id: str, session_id: int, decision: AttendanceDecision, key: str
) -> list[int]:
    """Record the session and its attendance; return employee ids that were not in its scope."""
    with transaction() as session:
        return plans.record_attendance(
            session, process_id, session_id, decision, key, load_policy(), utcnow()
        )


@task(name="begin-training-assessment", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def begin_assessment(process_id: str) -> None:
    """Mark the sessions done and the assessment due."""
    with transaction() as session:
        plans.begin_assessment(session, process_id, utcnow())


@task(
    name="record-training-assessment",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def record_assessment(process_id: str, decision: AssessmentDecision, key: str) -> dict[str, int]:
    """Keep the scores; return how many passed and failed."""
    with transaction() as session:
        return plans.record_assessment(session, process_id, decision, key, load_policy(), utcnow())


@task(name="record-training-analysis", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_analysis(process_id: str, decision: AnalysisDecision, key: str) -> None:
    """Keep the supervisor's analysis."""
    with transaction() as session:
        plans.record_analysis(session, process_id, decision, key, utcnow())


@task(name="close-training-plan", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def close_plan(process_id: str) -> None:
    """Close the plan."""
    with transaction() as session:
        plans.close_plan(session, process_id, utcnow())


# --- the scheduled kickoff ---------------------------------------------------------------------


@task(name="open-due-training-plans", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def open_due_plans(kind: PlanKind, today: date) -> list[str]:
    """Open next period's plan at every site whose drafting opens by `today`; return processes.

    Opens on the site's working days only, from the opening day until the approval deadline, so
    a missed run (server down on the day) still opens the plan the next working day.
    """
    policy = load_policy()
    period = next_period(kind, today)
    opened = []
    with transaction() as session:
        for site_id in session.scalars(select(Site.id).order_by(Site.id)).all():
            # Each site's own version of the plan calendar sets its working days and deadlines.
            calendar = site_calendars(session, site_id)[policy.calendar]
            deadlines = plan_deadlines(policy, calendar, period)
            if not calendar.is_working_day(today) or not (
                deadlines.opens_on <= today <= deadlines.approval_due_on
            ):
                continue
            process = plans.open_scheduled_plan(session, site_id, period, policy, utcnow())
            if process is not None:
                opened.append(process.id)
    return opened


@task(name="start-training-plan-runs", retries=3, retry_delay_seconds=[2, 5, 15])
def start_runs(process_ids: list[str]) -> int:
    """Start the flow run of each opened plan (the sweep retries any that fail); count them."""
    return sum(start_process_run(process_id) for process_id in process_ids)
