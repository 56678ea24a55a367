"""Training plans: start drafting, submit, read a plan with its versions and what changed,
and the training record of each employee (JSON and CSV)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from db.models import Process, ProcessKind, TrainingPlan, User
from db.session import transaction
from domain import inbox
from domain import training_plan as plans
from domain.plan_access import involved_plan
from flows.catalog import STEPS
from forms.training_plan import PlanDocument, TrainingPlanCreate
from inbox.api.deps import ClockDep, CurrentUser, IdempotencyKey, SessionDep
from inbox.api.schemas import ProcessStarted
from inbox.intake import start_process
from rules.training_plan import load_policy
from tasks.human import hand_back_for_person

router = APIRouter(prefix="/training-plans", tags=["training plans"])


class PlanVersionPublic(BaseModel):
    number: int
    submitted_by_id: int | None
    submitted_at: datetime
    document: dict[str, Any]
    problems: list[dict[str, Any]]


class PlanDecisionPublic(BaseModel):
    version: int
    outcome: str
    reason: str
    decided_by_id: int | None
    decided_at: datetime


class TrainingSessionPublic(BaseModel):
    id: int
    item_index: int
    topic: str
    trainer_id: int
    starts_at: datetime
    hours: Decimal
    venue: str
    state: str
    attendance: dict[int, str]


class TrainingPlanPublic(BaseModel):
    process_id: str
    subject: str
    kind: str
    state: str
    process_state: str
    period_starts_on: date
    period_ends_on: date
    drafter_id: int | None
    opens_on: date
    draft_due_on: date
    approval_due_on: date
    deadline_rule: str
    approved_version: int | None
    approved_by_id: int | None
    versions: list[PlanVersionPublic]
    decisions: list[PlanDecisionPublic]
    sessions: list[TrainingSessionPublic]
    analysis: dict[str, Any] | None


class ChangePublic(BaseModel):
    path: str
    before: Any
    after: Any


class PlanDiffPublic(BaseModel):
    from_version: int
    to_version: int
    changes: list[ChangePublic]


class RecordLinePublic(BaseModel):
    employee: str
    day: date
    plan: str
    topic: str
    method: str
    hours: Decimal | None
    trainer: str
    attendance: str
    written: int | None
    practical: int | None
    passed: bool | None


def plan_public(session: Session, plan: TrainingPlan) -> TrainingPlanPublic:
    """Return the API view of a plan with every version, decision and session."""
    process = session.get_one(Process, plan.process_id)
    return TrainingPlanPublic(
        process_id=plan.process_id,
        subject=process.subject,
        kind=plan.kind,
        state=plan.state,
        process_state=process.state,
        period_starts_on=plan.period_starts_on,
        period_ends_on=plan.period_ends_on,
        drafter_id=plan.drafter_id,
        opens_on=plan.opens_on,
        draft_due_on=plan.draft_due_on,
        approval_due_on=plan.approval_due_on,
        deadline_rule=plan.deadline_rule,
        approved_version=plan.approved_version,
        approved_by_id=plan.approved_by_id,
        versions=[
            PlanVersionPublic(
                number=v.number,
                submitted_by_id=v.submitted_by_id,
                submitted_at=v.submitted_at,
                document=v.document,
                problems=v.problems,
            )
            for v in plan.versions
        ],
        decisions=[
            PlanDecisionPublic(
                version=d.version_number,
                outcome=d.outcome,
                reason=d.reason,
                decided_by_id=d.decided_by_id,
                decided_at=d.decided_at,
            )
            for d in plan.decisions
        ],
        sessions=[
            TrainingSessionPublic(
                id=s.id,
                item_index=s.item_index,
                topic=s.topic,
                trainer_id=s.trainer_id,
                starts_at=s.starts_at,
                hours=s.hours,
                venue=s.venue,
                state=s.state,
                attendance={a.employee_id: a.status for a in s.attendance},
            )
            for s in (
                plans.get_session(session, plan.process_id, i)
                for i in plans.session_ids(session, plan.process_id)
            )
        ],
        analysis=plan.analysis,
    )


@router.post("", response_model=ProcessStarted, status_code=status.HTTP_201_CREATED)
def start_plan(
    intake: TrainingPlanCreate, user: CurrentUser, clock: ClockDep, key: IdempotencyKey = None
) -> ProcessStarted:
    """Start drafting the annual or a monthly plan (supervisors); its deadlines are computed."""
    return ProcessStarted.of(
        start_process(ProcessKind.TRAINING_PLAN, user.id, intake, clock(), key)
    )


@router.get("/records", response_model=list[RecordLinePublic])
def get_records(
    session: SessionDep, user: CurrentUser, employee_id: int | None = None
) -> list[RecordLinePublic]:
    """Show a training record: yours, an employee's, or (managers, HR) the whole site's."""
    employees = plans.readable_record(session, user, employee_id)
    return [
        RecordLinePublic.model_validate(line, from_attributes=True)
        for line in plans.training_record(session, employees)
    ]


@router.get("/records.csv", response_class=Response)
def export_records(
    session: SessionDep, user: CurrentUser, employee_id: int | None = None
) -> Response:
    """Export a training record (《培训记录表》) as CSV."""
    employees = plans.readable_record(session, user, employee_id)
    body = plans.record_csv(plans.training_record(session, employees))
    name = f"training-record-{employee_id or 'site'}.csv"
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/{process_id}", response_model=TrainingPlanPublic)
def get_plan(process_id: str, session: SessionDep, user: CurrentUser) -> TrainingPlanPublic:
    """Show a plan: deadlines, every version and decision with its reason, sessions."""
    return plan_public(session, involved_plan(session, user, process_id))


@router.get("/{process_id}/diff", response_model=PlanDiffPublic)
def get_diff(
    process_id: str,
    session: SessionDep,
    user: CurrentUser,
    from_version: int | None = Query(default=None, alias="from", ge=1),
    to_version: int | None = Query(default=None, alias="to", ge=1),
) -> PlanDiffPublic:
    """Show what changed between two versions, field by field (default: the last two)."""
    involved_plan(session, user, process_id)
    first, last, changes = plans.plan_diff(session, process_id, from_version, to_version)
    return PlanDiffPublic(
        from_version=first,
        to_version=last,
        changes=[ChangePublic(**c) for c in plans.changes_view(changes)],
    )


@router.post("/{process_id}/submit", response_model=TrainingPlanPublic)
def submit_plan(
    process_id: str, document: PlanDocument, user: CurrentUser, clock: ClockDep
) -> TrainingPlanPublic:
    """Submit the draft (or revision) for approval; an unfit plan is refused naming each problem."""
    with transaction() as session:
        actor = session.get_one(User, user.id)
        task = plans.drafting_task(session, actor, process_id)
        plans.check_submission(session, process_id, document, load_policy())
        inbox.complete(session, actor, task.id, document.model_dump(mode="json"), STEPS, clock())
        task_id = task.id
    # After the commit, as the inbox does: a failed resume is retried by the sweep.
    hand_back_for_person(task_id)
    with transaction() as session:
        return plan_public(session, plans.get_plan(session, process_id))
