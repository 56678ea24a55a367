"""New-hire onboarding: registering a hire, the record of their training, exams and outcome.

Every write is keyed (unique rows, event dedup keys), so a replayed flow step changes nothing twice.
Who acted and when come from the completed inbox task of the step, not from the flow's clock.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, object_session

from config import get_settings
from db.models import (
    Event,
    ExamAttempt,
    InboxTask,
    NewHire,
    OnboardingState,
    PointEntry,
    Process,
    ProcessKind,
    ProcessState,
    Retraining,
    Role,
    Site,
    TaskState,
    TrainingDay,
    User,
)
from domain.calendars import process_calendar, site_calendars
from domain.errors import FieldProblem, Forbidden, Invalid, NotFound
from domain.events import EventKind, record_event
from domain.people import get_user, users_with_role
from domain.validation import field_title
from forms.onboarding import (
    DismissalDecision,
    ExamScore,
    MentorChoice,
    NewHireCreate,
    RetrainingReport,
    TrainingDayReport,
)
from notify.outbox import enqueue_about_case
from rules.calendar import WorkingCalendar
from rules.onboarding import (
    AttemptRate,
    Deduction,
    FailAction,
    LearnerResult,
    OnboardingPolicy,
    ScheduledDay,
    TargetStatus,
    cohort_pass_rates,
    day_window,
    exam_day,
    exam_total,
    fail_consequence,
    final_deadline,
    load_policy,
    passes,
    training_schedule,
)

# Who registers new hires, and who may read employee records (domain.md §2).
REGISTERING_ROLES = (Role.HR, Role.OPS_ADMIN)
RECORD_READERS = (Role.HR, Role.SUPERVISOR, Role.SITE_MANAGER, Role.OPS_ADMIN)
# A mentor is a senior employee of the front line (导师制).
MENTOR_ROLES = (Role.STAFF, Role.SHIFT_LEAD, Role.SUPERVISOR)
COHORT_FORMAT = "%Y-%m"

# The notification sent when a hire misses the final deadline.
FINAL_DEADLINE_MISSED_NOTICE = "onboarding_final_deadline_missed"
# English msgid: why a retake counts as failed without a score (第三次不合格…如在有效时间仍未合格).
MISSED_RETAKE_NOTE = "Not passed by the final deadline"
# The persisted names of the steps that wait on a retake; closed when the final deadline passes.
RETAKE_STEPS = ("onboarding.retraining", "onboarding.exam")
# Where a hire with a final deadline waits for their retake.
AWAITING_RETAKE = (OnboardingState.RETRAINING, OnboardingState.EXAM)


# English msgids of the deduction reasons, for records and exports.
DEDUCTION_LABELS = {
    Deduction.UNEXCUSED_ABSENCE: "Unexcused absence",
    Deduction.DISCIPLINE_BREACH: "Discipline breach",
    Deduction.FEEDBACK_FORM_MISSING: "Feedback form not filled in",
    Deduction.EXAM_FAIL: "Failed exam",
}

# English msgids of the onboarding states.
STATE_LABELS = {
    OnboardingState.TRAINING: "In training",
    OnboardingState.EXAM: "Awaiting the exam",
    OnboardingState.RETRAINING: "In retraining",
    OnboardingState.DISMISSAL_PENDING: "Awaiting the dismissal decision",
    OnboardingState.ON_POST: "On post",
    OnboardingState.DISMISSED: "Dismissed",
}


def current_policy() -> OnboardingPolicy:
    """Return the policy a hire registered now gets (KEFU_ONBOARDING_POLICY_FILE, else the
    bundled rules/onboarding.yaml), checked on load."""
    return load_policy(get_settings().onboarding_policy_file)


def hire_policy(hire: NewHire) -> OnboardingPolicy:
    """Return the policy in force when the hire was registered."""
    return OnboardingPolicy.model_validate(hire.policy)


def hire_calendar(hire: NewHire) -> WorkingCalendar:
    """Return the working calendar of the hire's training days, as their site keeps it."""
    session = object_session(hire)
    assert session is not None, "a hire read outside a session"
    return process_calendar(session, hire.process_id, hire_policy(hire).calendar)


# --- registration --------------------------------------------------------------------------


def _refuse(field: str, message: str) -> Invalid:
    """Return a refusal of one registration field, labelled with the form's field title."""
    return Invalid([FieldProblem((field,), message, {}, field_title(NewHireCreate, (field,)))])


def _site_colleague(session: Session, user_id: int, site_id: int, field: str) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active or user.site_id != site_id:
        raise _refuse(field, "No active user with this id at this site")
    return user


def may_register_at(hr: User, site_id: int) -> bool:
    """Return whether `hr` may register new hires at `site_id`: their own site, or any for ops."""
    return site_id == hr.site_id or hr.has_role(Role.OPS_ADMIN)


def registration_sites(session: Session, hr: User) -> list[Site]:
    """Return the sites `hr` may register new hires at, by code."""
    sites = session.scalars(select(Site).order_by(Site.code))
    return [site for site in sites if may_register_at(hr, site.id)]


def register_new_hire(
    session: Session, hr: User, intake: NewHireCreate, policy: OnboardingPolicy, now: datetime
) -> Process:
    """Record a new hire and their onboarding process (started after the commit)."""
    if not hr.has_role(*REGISTERING_ROLES):
        raise Forbidden("Only HR can register new hires")
    site_id = intake.site_id or hr.site_id
    if not may_register_at(hr, site_id):
        raise Forbidden("You can register new hires only at your own site")
    if session.get(Site, site_id) is None:
        raise _refuse("site_id", "No site with this id")
    calendar = site_calendars(session, site_id)[policy.calendar]
    if intake.start_date < now.astimezone(calendar.zone).date():
        raise _refuse("start_date", "The start date must not be in the past")
    trainer = _site_colleague(session, intake.trainer_id, site_id, "trainer_id")
    if trainer_disqualified(session, trainer.id):
        raise _refuse("trainer_id", "This trainer has lost the trainer qualification")
    if intake.user_id is not None:
        _site_colleague(session, intake.user_id, site_id, "user_id")
    cohort = intake.cohort or intake.start_date.strftime(COHORT_FORMAT)
    process = Process(
        kind=ProcessKind.ONBOARDING,
        site_id=site_id,
        subject=f"{intake.name} · {intake.post}",
        state=ProcessState.STARTING,
        started_by_id=hr.id,
        started_at=now,
    )
    session.add(process)
    session.flush()
    session.add(
        NewHire(
            process_id=process.id,
            name=intake.name,
            post=intake.post,
            phone=intake.phone,
            start_date=intake.start_date,
            user_id=intake.user_id,
            trainer_id=trainer.id,
            cohort=cohort,
            registered_by_id=hr.id,
            policy=policy.model_dump(mode="json"),
        )
    )
    record_event(
        session,
        process_id=process.id,
        kind=EventKind.ONBOARDING_REGISTERED,
        at=now,
        actor_id=hr.id,
        data={**intake.model_dump(mode="json"), "cohort": cohort, "site_id": site_id},
    )
    return process


def get_new_hire(session: Session, process_id: str) -> NewHire:
    """Return the new hire of an onboarding process, or raise NotFound."""
    hire = session.get(NewHire, process_id)
    if hire is None:
        raise NotFound("Onboarding {process_id} does not exist", process_id=process_id)
    return hire


def readable_record(session: Session, user: User, process_id: str) -> NewHire:
    """Return the employee record if `user` may read it: HR and managers of the site, the hire."""
    hire = get_new_hire(session, process_id)
    if hire.user_id == user.id or user.has_role(Role.OPS_ADMIN):
        return hire
    if not user.has_role(*RECORD_READERS):
        raise Forbidden("Only HR and managers can see employee records")
    if site_of(session, hire) != user.site_id:
        raise NotFound("Onboarding {process_id} does not exist", process_id=process_id)
    return hire


def site_hires(session: Session, user: User) -> list[NewHire]:
    """Return the new hires of the user's site, newest start first (HR and managers)."""
    if not user.has_role(*RECORD_READERS):
        raise Forbidden("Only HR and managers can see employee records")
    return list(
        session.scalars(
            select(NewHire)
            .join(Process)
            .where(Process.site_id == user.site_id)
            .order_by(NewHire.start_date.desc(), NewHire.process_id)
        )
    )


def site_of(session: Session, hire: NewHire) -> int:
    """Return the site a hire is onboarded at."""
    return session.scalars(select(Process.site_id).where(Process.id == hire.process_id)).one()


# --- steps of the process ------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """Who completed a step occurrence, and when (the inbox's clock)."""

    actor_id: int | None
    at: datetime


def completion(session: Session, process_id: str, key: str, now: datetime) -> Completion:
    """Return who completed the step occurrence `key` and when; `now` if no task says so."""
    task = session.scalar(
        select(InboxTask).where(
            InboxTask.process_id == process_id,
            InboxTask.step_key == key,
            InboxTask.state == TaskState.DONE,
        )
    )
    if task is None or task.completed_at is None:
        return Completion(None, now)
    return Completion(task.completed_by_id, task.completed_at)


def assign_mentor(
    session: Session, process_id: str, choice: MentorChoice, key: str, now: datetime
) -> str | None:
    """Make the chosen colleague the hire's mentor; return why not (an English msgid) if unfit."""
    hire = get_new_hire(session, process_id)
    done = completion(session, process_id, key, now)
    mentor = session.get(User, choice.mentor_id)
    problem = None
    if mentor is None or not mentor.active or mentor.site_id != site_of(session, hire):
        problem = "No active user with this id at this site"
    elif mentor.id == hire.user_id:
        problem = "The new hire cannot be their own mentor"
    elif not mentor.has_role(*MENTOR_ROLES):
        problem = "A mentor must be a senior customer-service employee"
    if problem is not None:
        record_event(
            session,
            process_id=process_id,
            kind=EventKind.MENTOR_REFUSED,
            at=done.at,
            actor_id=done.actor_id,
            data={"mentor_id": choice.mentor_id, "problem": problem},
            dedup_key=f"{process_id}:{key}",
        )
        return problem
    if record_event(
        session,
        process_id=process_id,
        kind=EventKind.MENTOR_ASSIGNED,
        at=done.at,
        actor_id=done.actor_id,
        data={"mentor_id": choice.mentor_id, "note": choice.note},
        dedup_key=f"{process_id}:{key}",
    ):
        hire.mentor_id = choice.mentor_id
    return None


def training_plan(session: Session, process_id: str) -> list[ScheduledDay]:
    """Return the hire's training days on the working calendar."""
    hire = get_new_hire(session, process_id)
    return training_schedule(hire_policy(hire), hire_calendar(hire), hire.start_date)


def _deduct(
    session: Session,
    hire: NewHire,
    reason: Deduction,
    points: int,
    source: str,
    done: Completion,
    note: str = "",
) -> None:
    """Take points off once per source; zero points (a policy without the rule) records nothing."""
    exists = session.scalar(
        select(PointEntry.id).where(
            PointEntry.process_id == hire.process_id, PointEntry.source == source
        )
    )
    if points == 0 or exists:
        return
    session.add(
        PointEntry(
            process_id=hire.process_id,
            points=points,
            reason=reason,
            source=source,
            recorded_by_id=done.actor_id,
            recorded_at=done.at,
            note=note,
        )
    )
    record_event(
        session,
        process_id=hire.process_id,
        kind=EventKind.POINTS_DEDUCTED,
        at=done.at,
        actor_id=done.actor_id,
        data={"points": points, "reason": reason, "source": source, "note": note},
        dedup_key=f"{hire.process_id}:points:{source}",
    )


def confirm_training_day(
    session: Session,
    process_id: str,
    day: ScheduledDay,
    report: TrainingDayReport,
    key: str,
    now: datetime,
) -> None:
    """Record a held training day with its notes, and the deductions it reports."""
    hire = get_new_hire(session, process_id)
    if session.scalar(
        select(TrainingDay.id).where(
            TrainingDay.process_id == process_id, TrainingDay.day == day.day
        )
    ):
        return
    done = completion(session, process_id, key, now)
    session.add(
        TrainingDay(
            process_id=process_id,
            day=day.day,
            held_on=day.on,
            topic=day.topic,
            with_mentor=day.with_mentor,
            confirmed_by_id=done.actor_id,
            confirmed_at=done.at,
            notes=report.notes,
        )
    )
    deductions = hire_policy(hire).deductions
    source = f"day-{day.day}"
    if report.unexcused_absence:
        reason = Deduction.UNEXCUSED_ABSENCE
        _deduct(session, hire, reason, deductions.points(reason), f"{source}:{reason}", done)
    if report.discipline_breaches:
        reason = Deduction.DISCIPLINE_BREACH
        points = deductions.points(reason) * report.discipline_breaches
        note = f"x{report.discipline_breaches}"
        _deduct(session, hire, reason, points, f"{source}:{reason}", done, note)
    if report.feedback_form_missing:
        reason = Deduction.FEEDBACK_FORM_MISSING
        _deduct(session, hire, reason, deductions.points(reason), f"{source}:{reason}", done)
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.TRAINING_DAY_CONFIRMED,
        at=done.at,
        actor_id=done.actor_id,
        data={"day": day.day, "held_on": day.on.isoformat(), **report.model_dump(mode="json")},
        dedup_key=f"{process_id}:{key}",
    )


# --- the exam ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """When a step occurrence opens and when it is due (UTC)."""

    available_from: datetime
    due_at: datetime


def exam_slot(session: Session, process_id: str, attempt: int) -> Slot:
    """Return when the attempt-th exam opens: on exam day, or for a retake after retraining."""
    hire = get_new_hire(session, process_id)
    calendar = hire_calendar(hire)
    policy = hire_policy(hire)
    if attempt == 1:
        opens, ends = day_window(calendar, exam_day(policy, calendar, hire.start_date))
        return Slot(opens, ends)
    retraining = get_retraining(session, process_id, attempt - 1)
    ready = retraining.confirmed_at or retraining.due_at
    due = hire.final_deadline or calendar.add_working_days(ready, policy.retake_within_working_days)
    return Slot(ready, max(due, ready))


@dataclass(frozen=True)
class ExamVerdict:
    """The outcome of one exam sitting and what follows it."""

    attempt: int
    total: int
    passed: bool
    action: FailAction | None  # None when passed
    points: int


def _verdict(attempt: ExamAttempt, action: str | None, points: int) -> ExamVerdict:
    return ExamVerdict(
        attempt.attempt,
        attempt.total,
        attempt.passed,
        FailAction(action) if action else None,
        points,
    )


def record_exam(
    session: Session, process_id: str, attempt_no: int, score: ExamScore, key: str, now: datetime
) -> ExamVerdict:
    """Record an exam sitting; a fail costs points per the ladder and decides the next step."""
    hire = get_new_hire(session, process_id)
    existing = _recorded_verdict(session, hire, attempt_no, key)
    if existing is not None:
        return existing
    done = completion(session, process_id, key, now)
    late = hire.final_deadline is not None and done.at > hire.final_deadline
    verdict = _record_attempt(session, hire, attempt_no, score, done, late, key)
    if not verdict.passed:
        recipients = [hire.user_id, hire.trainer_id, hire.registered_by_id]
        details = {
            "attempt": attempt_no,
            "total": verdict.total,
            "pass_mark": hire_policy(hire).pass_mark,
            "points": verdict.points,
            "action": str(verdict.action),
            "late": late,
            "final_deadline": hire.final_deadline,
        }
        _tell(session, hire, "onboarding_exam_failed", key, recipients, details)
    return verdict


def record_missed_retake(
    session: Session, process_id: str, attempt_no: int, key: str, now: datetime
) -> ExamVerdict:
    """Record the retake the final deadline passed first as a failed attempt; return its verdict.

    Not sat, so no score: 0 + 0, late, scored by nobody at the moment the miss was enforced.
    """
    hire = get_new_hire(session, process_id)
    existing = _recorded_verdict(session, hire, attempt_no, key)
    if existing is not None:
        return existing
    missed_at = session.scalar(
        select(Event.at).where(Event.dedup_key == _missed_key(process_id, attempt_no))
    )
    score = ExamScore(theory=0, discipline=0, note=MISSED_RETAKE_NOTE)
    return _record_attempt(
        session, hire, attempt_no, score, Completion(None, missed_at or now), True, key
    )


def _recorded_verdict(
    session: Session, hire: NewHire, attempt_no: int, key: str
) -> ExamVerdict | None:
    """Return the verdict of an attempt already recorded (a replayed step), else None."""
    existing = session.scalar(
        select(ExamAttempt).where(
            ExamAttempt.process_id == hire.process_id, ExamAttempt.attempt == attempt_no
        )
    )
    if existing is None:
        return None
    event = session.scalar(select(Event).where(Event.dedup_key == f"{hire.process_id}:{key}"))
    data = event.data if event else {}
    return _verdict(existing, data.get("action"), int(data.get("points", 0)))


def _record_attempt(
    session: Session,
    hire: NewHire,
    attempt_no: int,
    score: ExamScore,
    done: Completion,
    late: bool,
    key: str,
) -> ExamVerdict:
    """Store one attempt; a fail costs points per the ladder and decides the next step."""
    policy = hire_policy(hire)
    total = exam_total(score.theory, score.discipline)
    passed = passes(policy, total) and not late
    attempt = ExamAttempt(
        process_id=hire.process_id,
        attempt=attempt_no,
        theory=score.theory,
        discipline=score.discipline,
        total=total,
        pass_mark=policy.pass_mark,
        passed=passed,
        late=late,
        scored_by_id=done.actor_id,
        scored_at=done.at,
        note=score.note,
    )
    hire.exam_attempts.append(attempt)  # the hire's list stays whole within this session
    session.flush()
    action: FailAction | None = None
    points = 0
    if not passed:
        fail_no = session.scalar(
            select(func.count(ExamAttempt.id)).where(
                ExamAttempt.process_id == hire.process_id, ExamAttempt.passed.is_(False)
            )
        )
        consequence = fail_consequence(policy, int(fail_no or 0), after_reprieve=hire.reprieves > 0)
        action, points = consequence.action, consequence.points
        _deduct(
            session, hire, Deduction.EXAM_FAIL, points, f"exam-{attempt_no}", done, f"#{fail_no}"
        )
        if consequence.final_deadline_working_days is not None:
            hire.final_deadline = final_deadline(
                hire_calendar(hire), done.at, consequence.final_deadline_working_days
            )
        hire.state = (
            OnboardingState.DISMISSAL_PENDING
            if action is FailAction.DISMISSAL_DECISION
            else OnboardingState.RETRAINING
        )
    record_event(
        session,
        process_id=hire.process_id,
        kind=EventKind.EXAM_SCORED,
        at=done.at,
        actor_id=done.actor_id,
        data={
            "attempt": attempt_no,
            "theory": score.theory,
            "discipline": score.discipline,
            "total": total,
            "pass_mark": policy.pass_mark,
            "passed": passed,
            "late": late,
            "action": action,
            "points": points,
            "trainer_id": hire.trainer_id,
            "cohort": hire.cohort,
        },
        dedup_key=f"{hire.process_id}:{key}",
    )
    return _verdict(attempt, action, points)


# --- the final deadline --------------------------------------------------------------------


@dataclass(frozen=True)
class MissedDeadline:
    """A hire whose final deadline passed: their flow run, and the retake steps it may wait on."""

    process_id: str
    flow_run_id: str | None
    waiting_keys: tuple[str, ...]


def _missed_key(process_id: str, attempt_no: int) -> str:
    return f"{process_id}:final-deadline-missed:{attempt_no}"


def final_deadline_missed(session: Session, process_id: str, attempt_no: int) -> bool:
    """Return whether the final deadline passed before the attempt_no-th exam was scored."""
    return (
        session.scalar(
            select(Event.id).where(Event.dedup_key == _missed_key(process_id, attempt_no))
        )
        is not None
    )


def enforce_final_deadlines(
    session: Session, now: datetime, limit: int = 100
) -> list[MissedDeadline]:
    """Close the pending retake of each hire whose final deadline passed; return them.

    For the minute sweep: one indexed query when nobody is due. A hire stays listed (and each
    call changes nothing twice) until their flow records the missed retake.
    """
    due = session.scalars(
        select(NewHire)
        .where(NewHire.state.in_(AWAITING_RETAKE), NewHire.final_deadline <= now)
        .order_by(NewHire.final_deadline)
        .limit(limit)
    )
    missed = (enforce_final_deadline(session, hire, now) for hire in due)
    return [m for m in missed if m is not None]


def enforce_final_deadline(session: Session, hire: NewHire, now: datetime) -> MissedDeadline | None:
    """Record that the hire's final deadline passed, close their retake steps and tell HR and the
    trainer (once); None when a retake scored in time is still on its way to the flow."""
    attempt_no = 1 + (
        session.scalar(
            select(func.count(ExamAttempt.id)).where(ExamAttempt.process_id == hire.process_id)
        )
        or 0
    )
    retake = select(InboxTask).where(
        InboxTask.process_id == hire.process_id, InboxTask.step.in_(RETAKE_STEPS)
    )
    if session.scalar(
        retake.where(InboxTask.step_key == f"exam-{attempt_no}", InboxTask.state == TaskState.DONE)
    ):
        return None
    assert hire.final_deadline is not None
    reason = {
        "attempt": attempt_no,
        "final_deadline": hire.final_deadline.isoformat(),
        "reason": MISSED_RETAKE_NOTE,
    }
    for task in session.scalars(retake.where(InboxTask.state == TaskState.OPEN)):
        closed = session.execute(
            update(InboxTask)
            .where(InboxTask.id == task.id, InboxTask.state == TaskState.OPEN)
            .values(state=TaskState.CANCELLED)
        ).rowcount
        if closed:
            record_event(
                session,
                process_id=hire.process_id,
                task_id=task.id,
                kind=EventKind.TASK_CANCELLED,
                at=now,
                data=reason,
            )
    if record_event(
        session,
        process_id=hire.process_id,
        kind=EventKind.FINAL_DEADLINE_MISSED,
        at=now,
        data=reason,
        dedup_key=_missed_key(hire.process_id, attempt_no),
    ):
        site_id = site_of(session, hire)
        recipients = [
            hire.registered_by_id,
            hire.trainer_id,
            *(u.id for u in users_with_role(session, site_id, Role.HR)),
        ]
        details = {"attempt": attempt_no, "final_deadline": hire.final_deadline}
        _tell(session, hire, FINAL_DEADLINE_MISSED_NOTICE, str(attempt_no), recipients, details)
    waiting = session.scalars(
        select(InboxTask.step_key).where(
            InboxTask.process_id == hire.process_id,
            InboxTask.step.in_(RETAKE_STEPS),
            InboxTask.state == TaskState.CANCELLED,
        )
    )
    flow_run_id = session.scalar(select(Process.flow_run_id).where(Process.id == hire.process_id))
    return MissedDeadline(hire.process_id, flow_run_id, tuple(waiting))


def take_post(session: Session, process_id: str, now: datetime) -> None:
    """The hire passed: they formally take the post; the hire, supervisors and HR are told."""
    hire = get_new_hire(session, process_id)
    passed = next(a for a in hire.exam_attempts if a.passed)
    if not record_event(
        session,
        process_id=process_id,
        kind=EventKind.POST_TAKEN,
        at=passed.scored_at,
        data={"attempt": passed.attempt, "total": passed.total},
        dedup_key=f"{process_id}:post-taken",
    ):
        return
    hire.state = OnboardingState.ON_POST
    hire.outcome_at = passed.scored_at
    site_id = site_of(session, hire)
    recipients = [
        hire.user_id,
        hire.registered_by_id,
        *(u.id for u in users_with_role(session, site_id, Role.SUPERVISOR)),
        *(u.id for u in users_with_role(session, site_id, Role.HR)),
    ]
    details = {"attempt": passed.attempt, "total": passed.total, "post": hire.post}
    _tell(session, hire, "onboarding_post_taken", "post-taken", recipients, details)


def decide_dismissal(
    session: Session,
    process_id: str,
    decision: DismissalDecision,
    key: str,
    now: datetime,
) -> bool:
    """Apply the site manager's decision; return whether the hire is dismissed."""
    hire = get_new_hire(session, process_id)
    dismiss = decision.decision == "dismiss"
    done = completion(session, process_id, key, now)
    if not record_event(
        session,
        process_id=process_id,
        kind=EventKind.ONBOARDING_DISMISSED if dismiss else EventKind.ONBOARDING_REPRIEVED,
        at=done.at,
        actor_id=done.actor_id,
        data={
            "reason": decision.reason,
            "trainer_id": hire.trainer_id,
            "cohort": hire.cohort,
        },
        dedup_key=f"{process_id}:{key}",
    ):
        return dismiss
    if dismiss:
        hire.state = OnboardingState.DISMISSED
        hire.outcome_at = done.at
        hire.outcome_note = decision.reason
        site_id = site_of(session, hire)
        recipients = [
            hire.registered_by_id,
            hire.trainer_id,
            *(u.id for u in users_with_role(session, site_id, Role.SUPERVISOR)),
            *(u.id for u in users_with_role(session, site_id, Role.HR)),
        ]
        details = {"reason": decision.reason, "post": hire.post}
        _tell(session, hire, "onboarding_dismissed", key, recipients, details)
    else:
        hire.state = OnboardingState.RETRAINING
        hire.reprieves += 1
        policy = hire_policy(hire)
        last_rung = policy.fail_ladder[-1] if policy.fail_ladder else None
        days = (
            last_rung.final_deadline_working_days
            if last_rung and last_rung.final_deadline_working_days
            else policy.retake_within_working_days
        )
        hire.final_deadline = final_deadline(hire_calendar(hire), done.at, days)
    return dismiss


# --- retraining ----------------------------------------------------------------------------


def get_retraining(session: Session, process_id: str, round_no: int) -> Retraining:
    """Return the retraining after the round_no-th exam, or raise NotFound."""
    retraining = session.scalar(
        select(Retraining).where(Retraining.process_id == process_id, Retraining.round == round_no)
    )
    if retraining is None:
        raise NotFound("Retraining {round_no} does not exist", round_no=round_no)
    return retraining


def open_retraining(session: Session, process_id: str, round_no: int, now: datetime) -> Retraining:
    """Plan the individual retraining after a failed exam (once); due before any final deadline."""
    existing = session.scalar(
        select(Retraining).where(Retraining.process_id == process_id, Retraining.round == round_no)
    )
    if existing is not None:
        return existing
    hire = get_new_hire(session, process_id)
    failed = next(a for a in hire.exam_attempts if a.attempt == round_no)
    # After a reprieve the retraining starts with the site manager's decision, not the exam.
    reprieved_at = session.scalar(
        select(func.max(Event.at)).where(
            Event.process_id == process_id,
            Event.kind == EventKind.ONBOARDING_REPRIEVED,
            Event.at >= failed.scored_at,
        )
    )
    opened_at = reprieved_at or failed.scored_at
    due = hire_calendar(hire).add_working_days(opened_at, hire_policy(hire).retraining_working_days)
    if hire.final_deadline is not None:
        due = min(due, hire.final_deadline)
    retraining = Retraining(
        process_id=process_id,
        round=round_no,
        opened_at=opened_at,
        due_at=max(due, opened_at),
    )
    session.add(retraining)
    session.flush()
    return retraining


def confirm_retraining(
    session: Session,
    process_id: str,
    round_no: int,
    report: RetrainingReport,
    key: str,
    now: datetime,
) -> None:
    """Record the trainer's confirmation of a retraining."""
    retraining = get_retraining(session, process_id, round_no)
    if retraining.confirmed_at is not None:
        return
    done = completion(session, process_id, key, now)
    retraining.confirmed_at = done.at
    retraining.confirmed_by_id = done.actor_id
    retraining.notes = report.notes
    get_new_hire(session, process_id).state = OnboardingState.EXAM
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.RETRAINING_CONFIRMED,
        at=done.at,
        actor_id=done.actor_id,
        data={"round": round_no, "notes": report.notes},
        dedup_key=f"{process_id}:{key}",
    )


def close_onboarding(session: Session, process_id: str, now: datetime) -> None:
    """Close the process once its outcome is recorded and any training revision is done."""
    process = session.get_one(Process, process_id)
    if process.state == ProcessState.CLOSED:
        return
    process.state = ProcessState.CLOSED
    process.closed_at = now
    process.current_step = None


# --- the trainer's side --------------------------------------------------------------------


@dataclass(frozen=True)
class TrainerCohort:
    """A trainer's learners of one cohort and their pass rates by attempt."""

    trainer_id: int
    trainer_name: str
    cohort: str
    learners: int
    rates: list[AttemptRate]
    disqualified: bool


def _learner_results(
    session: Session, site_id: int | None, trainer_id: int | None = None
) -> dict[tuple[int, str], list[LearnerResult]]:
    """Return each (trainer, cohort)'s learners, rebuilt from the events (not from counters)."""
    statement = (
        select(Event)
        .join(Process, Process.id == Event.process_id)
        .where(
            Process.kind == ProcessKind.ONBOARDING,
            Event.kind.in_(
                (
                    EventKind.ONBOARDING_REGISTERED,
                    EventKind.EXAM_SCORED,
                    EventKind.ONBOARDING_DISMISSED,
                )
            ),
        )
        .order_by(Event.id)
    )
    if site_id is not None:
        statement = statement.where(Process.site_id == site_id)
    registered: dict[str, tuple[int, str]] = {}
    sat: dict[str, int] = defaultdict(int)
    passed_at: dict[str, int] = {}
    left: set[str] = set()
    for event in session.scalars(statement):
        data = event.data
        if event.kind == EventKind.ONBOARDING_REGISTERED:
            registered[event.process_id] = (int(data["trainer_id"]), str(data["cohort"]))
        elif event.kind == EventKind.EXAM_SCORED:
            attempt = int(data["attempt"])
            sat[event.process_id] = max(sat[event.process_id], attempt)
            if data["passed"]:
                passed_at.setdefault(event.process_id, attempt)
        else:
            left.add(event.process_id)
    groups: dict[tuple[int, str], list[LearnerResult]] = defaultdict(list)
    for process_id, group in registered.items():
        if trainer_id is None or group[0] == trainer_id:
            groups[group].append(
                LearnerResult(sat[process_id], passed_at.get(process_id), process_id in left)
            )
    return groups


def trainer_misses(session: Session, trainer_id: int) -> int:
    """Return how many cohort targets the trainer has missed."""
    return len(
        [
            e
            for e in session.scalars(
                select(Event).where(Event.kind == EventKind.TRAINER_TARGET_MISSED)
            )
            if e.data.get("trainer_id") == trainer_id
        ]
    )


def trainer_disqualified(session: Session, trainer_id: int) -> bool:
    """Return whether the trainer lost the trainer qualification (too many missed targets)."""
    return (
        session.scalar(
            select(Event.id).where(Event.dedup_key == f"trainer-disqualified:{trainer_id}")
        )
        is not None
    )


def trainer_pass_rates(
    session: Session, user: User, cohort: str | None = None
) -> list[TrainerCohort]:
    """Return the pass rates of every trainer's cohorts at the user's site (HR and managers)."""
    if not user.has_role(*RECORD_READERS):
        raise Forbidden("Only HR and managers can see trainers' pass rates")
    site_id = None if user.has_role(Role.OPS_ADMIN) else user.site_id
    targets = current_policy().trainer_targets
    views = []
    for (trainer_id, group_cohort), learners in sorted(_learner_results(session, site_id).items()):
        if cohort is not None and group_cohort != cohort:
            continue
        views.append(
            TrainerCohort(
                trainer_id=trainer_id,
                trainer_name=get_user(session, trainer_id).display_name,
                cohort=group_cohort,
                learners=len(learners),
                rates=cohort_pass_rates(learners, targets),
                disqualified=trainer_disqualified(session, trainer_id),
            )
        )
    return views


def assess_trainer(session: Session, process_id: str, now: datetime) -> list[int]:
    """Record the trainer's missed targets of the hire's cohort; return those this hire revealed.

    Each miss is recorded once, by the process whose result completed that attempt's count, so
    exactly one revise-training task opens per miss.
    """
    hire = get_new_hire(session, process_id)
    policy = hire_policy(hire)
    learners = _learner_results(session, None, hire.trainer_id).get(
        (hire.trainer_id, hire.cohort), []
    )
    for rate in cohort_pass_rates(learners, policy.trainer_targets):
        if rate.status is not TargetStatus.MISSED:
            continue
        record_event(
            session,
            process_id=process_id,
            kind=EventKind.TRAINER_TARGET_MISSED,
            at=now,
            data={
                "trainer_id": hire.trainer_id,
                "cohort": hire.cohort,
                "attempt": rate.attempt,
                "rate": rate.rate,
                "target": rate.target,
            },
            dedup_key=f"trainer-miss:{hire.trainer_id}:{hire.cohort}:{rate.attempt}",
        )
    if trainer_misses(session, hire.trainer_id) >= policy.trainer_misses_before_disqualification:
        record_event(
            session,
            process_id=process_id,
            kind=EventKind.TRAINER_DISQUALIFIED,
            at=now,
            data={"trainer_id": hire.trainer_id},
            dedup_key=f"trainer-disqualified:{hire.trainer_id}",
        )
    return sorted(
        int(e.data["attempt"])
        for e in session.scalars(
            select(Event).where(
                Event.process_id == process_id, Event.kind == EventKind.TRAINER_TARGET_MISSED
            )
        )
    )


def record_training_revision(
    session: Session, process_id: str, attempt: int, revision: str, key: str, now: datetime
) -> None:
    """Record the trainer's revised training after a missed target."""
    hire = get_new_hire(session, process_id)
    done = completion(session, process_id, key, now)
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.TRAINING_REVISED,
        at=done.at,
        actor_id=done.actor_id,
        data={
            "trainer_id": hire.trainer_id,
            "cohort": hire.cohort,
            "attempt": attempt,
            "revision": revision,
        },
        dedup_key=f"{process_id}:{key}",
    )


# --- notifications -------------------------------------------------------------------------


def _tell(
    session: Session,
    hire: NewHire,
    event: str,
    key: str,
    recipient_ids: list[int | None],
    details: dict[str, Any],
) -> None:
    enqueue_about_case(
        session,
        process_id=hire.process_id,
        event=event,
        key=key,
        recipient_ids=recipient_ids,
        context={"new_hire_name": hire.name, "process_subject": f"{hire.name} · {hire.post}"}
        | details,
    )
