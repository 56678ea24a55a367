"""New-hire onboarding: HR registers a hire; HR and managers read and export the employee record,
and see the trainers' pass rates."""

import csv
import io
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import NewHire, Process, ProcessKind, User
from domain import onboarding
from forms.onboarding import NewHireCreate
from i18n import gettext_for
from inbox.api.deps import ClockDep, CurrentUser, IdempotencyKey, SessionDep
from inbox.api.errors import request_locale
from inbox.api.schemas import ProcessStarted
from inbox.intake import start_process
from rules.onboarding import exam_day

router = APIRouter(prefix="/onboardings", tags=["onboarding"])


class PersonPublic(BaseModel):
    id: int
    name: str


class ScheduledDayPublic(BaseModel):
    day: int
    on: date
    topic: str
    with_mentor: bool
    available_from: datetime
    due_at: datetime


class TrainingDayPublic(BaseModel):
    day: int
    held_on: date
    topic: str
    with_mentor: bool
    confirmed_by: PersonPublic | None
    confirmed_at: datetime
    notes: str


class ExamAttemptPublic(BaseModel):
    attempt: int
    theory: int
    discipline: int
    total: int
    pass_mark: int
    passed: bool
    late: bool
    scored_by: PersonPublic | None
    scored_at: datetime
    note: str


class RetrainingPublic(BaseModel):
    round: int
    opened_at: datetime
    due_at: datetime
    confirmed_by: PersonPublic | None
    confirmed_at: datetime | None
    notes: str


class PointEntryPublic(BaseModel):
    points: int
    reason: str
    reason_label: str
    source: str
    recorded_by: PersonPublic | None
    recorded_at: datetime
    note: str


class EmployeeRecordPublic(BaseModel):
    """The employee record (《员工记录表》) of a new hire's onboarding."""

    process_id: str
    process_state: str
    name: str
    post: str
    phone: str | None
    site_id: int
    start_date: date
    cohort: str
    state: str
    trainer: PersonPublic
    mentor: PersonPublic | None
    registered_by: PersonPublic
    user_id: int | None
    pass_mark: int
    strict: bool
    exam_on: date
    final_deadline: datetime | None
    outcome_at: datetime | None
    outcome_note: str | None
    points_total: int
    schedule: list[ScheduledDayPublic]
    training_days: list[TrainingDayPublic]
    exam_attempts: list[ExamAttemptPublic]
    retrainings: list[RetrainingPublic]
    points: list[PointEntryPublic]


class NewHireSummary(BaseModel):
    process_id: str
    name: str
    post: str
    start_date: date
    cohort: str
    state: str
    points_total: int
    attempts: int


class AttemptRatePublic(BaseModel):
    attempt: int
    learners: int
    passed: int
    rate: float | None
    target: float
    status: str


class TrainerCohortPublic(BaseModel):
    trainer: PersonPublic
    cohort: str
    learners: int
    disqualified: bool
    rates: list[AttemptRatePublic]


@router.post("", response_model=ProcessStarted, status_code=status.HTTP_201_CREATED)
def register_new_hire(
    intake: NewHireCreate, user: CurrentUser, clock: ClockDep, key: IdempotencyKey = None
) -> ProcessStarted:
    """Register a new hire (HR); their onboarding starts with the supervisor choosing a mentor."""
    return ProcessStarted.of(start_process(ProcessKind.ONBOARDING, user.id, intake, clock(), key))


@router.get("", response_model=list[NewHireSummary])
def list_new_hires(session: SessionDep, user: CurrentUser) -> list[NewHireSummary]:
    """List the new hires of my site, newest start first (HR and managers)."""
    return [
        NewHireSummary(
            process_id=hire.process_id,
            name=hire.name,
            post=hire.post,
            start_date=hire.start_date,
            cohort=hire.cohort,
            state=hire.state,
            points_total=sum(p.points for p in hire.point_entries),
            attempts=len(hire.exam_attempts),
        )
        for hire in onboarding.site_hires(session, user)
    ]


@router.get("/trainers/pass-rates", response_model=list[TrainerCohortPublic])
def trainer_pass_rates(
    session: SessionDep, user: CurrentUser, cohort: str | None = None
) -> list[TrainerCohortPublic]:
    """Show each trainer's cohorts: pass rate by attempt against 90 / 95 / 100 %."""
    return [
        TrainerCohortPublic(
            trainer=PersonPublic(id=view.trainer_id, name=view.trainer_name),
            cohort=view.cohort,
            learners=view.learners,
            disqualified=view.disqualified,
            rates=[
                AttemptRatePublic(
                    attempt=r.attempt,
                    learners=r.learners,
                    passed=r.passed,
                    rate=r.rate,
                    target=r.target,
                    status=r.status,
                )
                for r in view.rates
            ],
        )
        for view in onboarding.trainer_pass_rates(session, user, cohort)
    ]


@router.get("/{process_id}", response_model=EmployeeRecordPublic)
def get_employee_record(
    process_id: str, request: Request, session: SessionDep, user: CurrentUser
) -> EmployeeRecordPublic:
    """Show a new hire's employee record: days, mentor notes, attempts, points, outcome."""
    hire = onboarding.readable_record(session, user, process_id)
    return _record(session, hire, gettext_for(request_locale(request)))


@router.get("/{process_id}/record.csv", response_class=Response)
def export_employee_record(
    process_id: str, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    """Export a new hire's employee record as CSV (UTF-8 with BOM, so Excel reads the Chinese)."""
    hire = onboarding.readable_record(session, user, process_id)
    _ = gettext_for(request_locale(request))
    record = _record(session, hire, _)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("Section"), _("Entry"), _("When"), _("By"), _("Details"), _("Points")])
    for row in _csv_rows(record, _):
        writer.writerow(row)
    filename = f"employee-record-{process_id}.csv"
    return Response(
        content="\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _people(session: Session, ids: set[int | None]) -> dict[int, PersonPublic]:
    wanted = {i for i in ids if i is not None}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all()
    return {uid: PersonPublic(id=uid, name=name) for uid, name in rows}


def _record(session: Session, hire: NewHire, _: Callable[[str], str]) -> EmployeeRecordPublic:
    policy = onboarding.hire_policy(hire)
    calendar = onboarding.hire_calendar(hire)
    process = session.get_one(Process, hire.process_id)
    people = _people(
        session,
        {
            hire.trainer_id,
            hire.mentor_id,
            hire.registered_by_id,
            *(d.confirmed_by_id for d in hire.training_days),
            *(a.scored_by_id for a in hire.exam_attempts),
            *(r.confirmed_by_id for r in hire.retrainings),
            *(p.recorded_by_id for p in hire.point_entries),
        },
    )

    def person(uid: int | None) -> PersonPublic | None:
        return people.get(uid) if uid is not None else None

    return EmployeeRecordPublic(
        process_id=hire.process_id,
        process_state=process.state,
        name=hire.name,
        post=hire.post,
        phone=hire.phone,
        site_id=process.site_id,
        start_date=hire.start_date,
        cohort=hire.cohort,
        state=hire.state,
        trainer=people[hire.trainer_id],
        mentor=person(hire.mentor_id),
        registered_by=people[hire.registered_by_id],
        user_id=hire.user_id,
        pass_mark=policy.pass_mark,
        strict=policy.strict,
        exam_on=exam_day(policy, calendar, hire.start_date),
        final_deadline=hire.final_deadline,
        outcome_at=hire.outcome_at,
        outcome_note=hire.outcome_note,
        points_total=sum(p.points for p in hire.point_entries),
        schedule=[
            ScheduledDayPublic(
                day=d.day,
                on=d.on,
                topic=_(d.topic),
                with_mentor=d.with_mentor,
                available_from=d.available_from,
                due_at=d.due_at,
            )
            for d in onboarding.training_plan(session, hire.process_id)
        ],
        training_days=[
            TrainingDayPublic(
                day=d.day,
                held_on=d.held_on,
                topic=_(d.topic),
                with_mentor=d.with_mentor,
                confirmed_by=person(d.confirmed_by_id),
                confirmed_at=d.confirmed_at,
                notes=d.notes,
            )
            for d in hire.training_days
        ],
        exam_attempts=[
            ExamAttemptPublic(
                attempt=a.attempt,
                theory=a.theory,
                discipline=a.discipline,
                total=a.total,
                pass_mark=a.pass_mark,
                passed=a.passed,
                late=a.late,
                scored_by=person(a.scored_by_id),
                scored_at=a.scored_at,
                note=a.note,
            )
            for a in hire.exam_attempts
        ],
        retrainings=[
            RetrainingPublic(
                round=r.round,
                opened_at=r.opened_at,
                due_at=r.due_at,
                confirmed_by=person(r.confirmed_by_id),
                confirmed_at=r.confirmed_at,
                notes=r.notes,
            )
            for r in hire.retrainings
        ],
        points=[
            PointEntryPublic(
                points=p.points,
                reason=p.reason,
                reason_label=_(onboarding.DEDUCTION_LABELS.get(p.reason, p.reason)),
                source=p.source,
                recorded_by=person(p.recorded_by_id),
                recorded_at=p.recorded_at,
                note=p.note,
            )
            for p in hire.point_entries
        ],
    )


def _when(moment: datetime | date | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _by(person: PersonPublic | None) -> str:
    return person.name if person else ""


def _csv_rows(record: EmployeeRecordPublic, _: Callable[[str], str]) -> list[list[Any]]:
    """Return the employee record as CSV rows: section, item, when, by, details, points."""
    rows: list[list[Any]] = [
        [_("New hire"), record.name, _when(record.start_date), _by(record.registered_by),
         f"{record.post} · {record.cohort}", ""],
        [_("Trainer"), record.trainer.name, "", "", "", ""],
        [_("Mentor"), _by(record.mentor), "", "", "", ""],
    ]  # fmt: skip
    for day in record.training_days:
        rows.append(
            [_("Training day"), f"{day.day} {day.topic}", _when(day.held_on),
             _by(day.confirmed_by), day.notes, ""]
        )  # fmt: skip
    for attempt in record.exam_attempts:
        verdict = _("passed") if attempt.passed else _("failed")
        rows.append(
            [_("Exam attempt"), attempt.attempt, _when(attempt.scored_at), _by(attempt.scored_by),
             f"{attempt.theory} + {attempt.discipline} = {attempt.total} / {attempt.pass_mark}"
             f" {verdict}", ""]
        )  # fmt: skip
    for retraining in record.retrainings:
        rows.append(
            [_("Retraining"), retraining.round, _when(retraining.confirmed_at),
             _by(retraining.confirmed_by), retraining.notes, ""]
        )  # fmt: skip
    for entry in record.points:
        rows.append(
            [_("Points"), entry.reason_label, _when(entry.recorded_at), _by(entry.recorded_by),
             f"{entry.source} {entry.note}".strip(), entry.points]
        )  # fmt: skip
    rows.append([_("Points total"), "", "", "", "", record.points_total])
    outcome = _(onboarding.STATE_LABELS[record.state])
    rows.append(
        [_("Onboarding outcome"), outcome, _when(record.outcome_at), "", record.outcome_note or "",
         ""]
    )  # fmt: skip
    return rows
