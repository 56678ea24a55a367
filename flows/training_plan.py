"""Training plan: drafting → manager approval → announcement → sessions → assessment
(培训计划制定与审批), per domain.md §1.

0. A supervisor starts drafting the annual or a monthly plan (the inbox API), or the scheduled
   kickoff opens it in time (flows/training_plan_kickoff.py); the deadlines follow the calendar.
1. Draft: the supervisor submits the structured plan (items, sessions, budget, compliance);
   an unfit plan is refused with every problem named, and a draft due date warns and escalates.
2. Approval: a site manager who did not draft it approves, or rejects with a reason; a decision
   by the drafter does not count and the approval is asked again.
3. Revise: on a rejection the drafter revises, seeing the reason; back to 2, any number of rounds.
   Every version and decision is kept; the approver sees what changed since the last version.
4. Announcement (计划沟通): every attendee and trainer is told their sessions; recurring
   in-post training becomes sessions on working days.
5. Sessions: per session, the trainer records attendance (present / excused / unexcused) and
   whether it took place, from the session's start, due the next working day. All records are
   open at once, so sessions are recorded in any order.
6. Assessment (written + practical) within the first working days after the plan's period.
7. Analysis by the supervisor within a week; it may ask for a revision, which goes through
   draft and approval again (2–3) and is announced.
8. Closed.
"""

from datetime import datetime
from typing import Any

from prefect import flow

from db.models import Role
from domain.steps import HumanRequest, HumanStep, Party
from domain.training_plan import (
    APPROVAL_LADDER,
    APPROVING_ROLE,
    DRAFTING_ROLE,
    SESSION_LADDER,
    SUPERVISOR_LADDER,
)
from forms.training_plan import (
    AnalysisDecision,
    AssessmentDecision,
    AttendanceDecision,
    PlanDecision,
    PlanDocument,
)
from tasks.human import await_human, open_human
from tasks.run_names import process_run_name
from tasks.training_plan import (
    Deadline,
    PlanCase,
    announce_plan,
    approval_context,
    begin_assessment,
    close_plan,
    load_plan,
    load_session,
    record_analysis,
    record_assessment,
    record_attendance,
    record_decision,
    record_version,
    schedule_sessions,
)

SLA_TARGET = "resolution"
DRAFT = HumanStep(
    "training_plan.draft",
    "Draft the training plan",
    PlanDocument,
    sla_target=SLA_TARGET,
    decided_by=(DRAFTING_ROLE,),
)
REVISE = HumanStep(
    "training_plan.revise",
    "Revise the training plan",
    PlanDocument,
    sla_target=SLA_TARGET,
    decided_by=(DRAFTING_ROLE,),
)
APPROVE = HumanStep(
    "training_plan.approve",
    "Approve the training plan",
    PlanDecision,
    sla_target=SLA_TARGET,
    approval=True,
    decided_by=(APPROVING_ROLE,),
    not_by=(Party.DRAFTER,),
)
RECORD_SESSION = HumanStep(
    "training_plan.record-session",
    "Record the training session",
    AttendanceDecision,
    sla_target=SLA_TARGET,
    decided_by=(Role.SUPERVISOR, Role.HR),  # the named trainer, or who runs the training record
)
ASSESS = HumanStep(
    "training_plan.assess",
    "Assess the training",
    AssessmentDecision,
    sla_target=SLA_TARGET,
    decided_by=(DRAFTING_ROLE,),
)
ANALYSE = HumanStep(
    "training_plan.analyse",
    "Analyse the assessment results",
    AnalysisDecision,
    sla_target=SLA_TARGET,
    decided_by=(DRAFTING_ROLE,),
)
STEPS = (DRAFT, REVISE, APPROVE, RECORD_SESSION, ASSESS, ANALYSE)


def supervisor_request(
    case: PlanCase,
    key: str,
    deadline: Deadline,
    context: dict[str, Any] | None = None,
    available_from: datetime | None = None,
) -> HumanRequest:
    """Return a request for the drafter, or the site's supervisors while nobody has drafted."""
    return HumanRequest(
        process_id=case.process_id,
        key=key,
        site_id=case.site_id,
        assignee_id=case.drafter_id,
        candidate_role=None if case.drafter_id else "supervisor",
        owner_of_record_id=case.drafter_id,
        due_at=deadline.due_at,
        available_from=available_from,
        context={"period": case.period, **(context or {})},
        sla_ladder=SUPERVISOR_LADDER,
        sla_started_at=deadline.clock_started_at,
    )


def session_request(case: PlanCase, session_id: int) -> HumanRequest:
    """Return the trainer's request to record a session, open from the session's start."""
    brief = load_session(case.process_id, session_id)
    return HumanRequest(
        process_id=case.process_id,
        key=f"session-{session_id}",
        site_id=case.site_id,
        assignee_id=brief.trainer_id,
        owner_of_record_id=case.drafter_id,
        available_from=brief.starts_at,
        context={
            "topic": brief.topic,
            "starts_at": brief.starts_at.isoformat(),
            "venue": brief.venue,
            "attendees": brief.attendees,
        },
        sla_ladder=SESSION_LADDER,
        sla_started_at=brief.starts_at,
    )


def decide(process_id: str, version: int, key: str) -> PlanDecision:
    """Return the approver's decision on a version; one by the drafter is refused and re-asked."""
    attempt = 1
    while True:
        case = load_plan(process_id)
        step_key = f"{key}-{attempt}"
        decision = await_human(
            APPROVE,
            HumanRequest(
                process_id=process_id,
                key=step_key,
                site_id=case.site_id,
                assignee_id=case.approver_id,
                candidate_role=case.approver_role,
                # Never the drafter: the owner of record may complete a task.
                owner_of_record_id=case.approver_id,
                due_at=case.approval.due_at,
                context={"period": case.period, **approval_context(process_id, version)},
                sla_ladder=APPROVAL_LADDER,
                sla_started_at=case.approval.clock_started_at,
            ),
        )
        if record_decision(process_id, version, decision, step_key):
            return decision
        attempt += 1


def agree_plan(process_id: str, phase: str) -> int:
    """Return the approved version after as many draft → decision → revise rounds as it takes."""
    round_no = 1
    while True:
        case = load_plan(process_id)
        first = phase == "draft" and round_no == 1
        key = f"{phase}-{round_no}"
        document = await_human(
            DRAFT if first else REVISE,
            supervisor_request(
                case,
                key,
                case.draft if first else case.revision,
                {
                    "version": case.last_version,
                    "reason": case.last_reason,
                    "problems": case.last_problems,
                },
            ),
        )
        submitted = record_version(process_id, document, key)
        if not submitted.problems:
            decision = decide(process_id, submitted.number, f"{phase}-approval-{round_no}")
            if decision.outcome == "approve":
                return submitted.number
        round_no += 1


@flow(name="training-plan", persist_result=True, flow_run_name=process_run_name)
def training_plan(process_id: str) -> str:
    """Run a training plan from drafting to its analysis; return how it closed."""
    version = agree_plan(process_id, "draft")
    session_ids = schedule_sessions(process_id, version)
    announce_plan(process_id, version)

    # Every session's record opens at once (each shows from its start), so one trainer's late
    # record holds up nobody else's; the assessment waits for them all.
    case = load_plan(process_id)
    requests = [session_request(case, session_id) for session_id in session_ids]
    for request in requests:
        open_human(RECORD_SESSION, request)
    for session_id, request in zip(session_ids, requests, strict=True):
        record = await_human(RECORD_SESSION, request)
        record_attendance(process_id, session_id, record, request.key)
    begin_assessment(process_id)

    case = load_plan(process_id)
    assessment = await_human(
        ASSESS,
        supervisor_request(
            case, "assessment", case.assessment, available_from=case.assessment_opens_at
        ),
    )
    results = record_assessment(process_id, assessment, "assessment")
    case = load_plan(process_id)
    analysis = await_human(ANALYSE, supervisor_request(case, "analysis", case.analysis, results))
    record_analysis(process_id, analysis, "analysis")

    if analysis.revise_plan:
        version = agree_plan(process_id, "revision")
        announce_plan(process_id, version)
    close_plan(process_id)
    return f"closed: version {version}, {results['passed']} passed, {results['failed']} failed"
