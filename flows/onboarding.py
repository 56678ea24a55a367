"""New-hire onboarding (新员工入职培训), per domain.md §2.

1. HR registers the new hire (name, post, site, start date, trainer); the process starts.
2. Mentor (导师制): a supervisor chooses a senior employee; an unfit choice is asked again.
3. Training days, one task each, opening when service starts on that working day (the day-shift
   calendar skips weekends and holidays) and due when it ends: day 1 company, department, safety,
   tour; day 2 duties, rewards and penalties, attendance, dress, etiquette; days 3–4 the post's
   SOPs, confirmed by the trainer; days 5–6 trial shifts, confirmed by the mentor with notes.
   Each report may take points off: unexcused absence −2, discipline −1, no feedback form −1.
4. Exam on the 7th working day (the 10th in the variant), scored by HR: theory 0–90 plus
   discipline 0–10.
5. Pass (mark 60 by default) → the hire takes the post; they, the supervisors and HR are told.
6. Fail → the penalty ladder: −3 then −6, each with individual retraining and a retake; −10 with
   retraining and a retake by a final deadline. Failing after that (at once in the strict variant)
   → the site manager decides: dismiss, or one more chance (retraining and a retake), with a reason.
   A final deadline that passes first counts as a failed retake: the sweep closes the waiting
   retraining or exam, tells HR and the trainer, and wakes the flow, which reads the miss here.
7. After each exam the trainer's cohort pass rate for that attempt is checked against its target
   (90 %, 95 %, 100 %); each miss this hire's result revealed → the trainer revises the training.
8. Closed.
"""

from prefect import flow

from db.models import Role
from domain.onboarding import MENTOR_ROLES, ExamVerdict, Slot
from domain.steps import HumanRequest, HumanStep, Party
from forms.onboarding import (
    DismissalDecision,
    ExamScore,
    MentorChoice,
    MentorShiftReport,
    RetrainingReport,
    TrainingDayReport,
    TrainingRevision,
)
from rules.onboarding import FailAction, ScheduledDay
from tasks.human import await_human
from tasks.onboarding import (
    HireCase,
    assess_trainer,
    close_onboarding,
    final_deadline_missed,
    load_new_hire,
    plan_exam,
    plan_retraining,
    plan_training_days,
    record_dismissal_decision,
    record_exam,
    record_mentor,
    record_missed_retake,
    record_retraining,
    record_training_day,
    record_training_revision,
    take_post,
)
from tasks.run_names import process_run_name

# Who may stand in for the hire's named trainer (岗位教练).
TRAINERS = (Role.SHIFT_LEAD, Role.SUPERVISOR)
CHOOSE_MENTOR = HumanStep(
    "onboarding.choose-mentor",
    "Choose the new hire's mentor",
    MentorChoice,
    decided_by=(Role.SUPERVISOR,),
)
TRAINING_DAY = HumanStep(
    "onboarding.training-day",
    "Confirm the training day",
    TrainingDayReport,
    decided_by=TRAINERS,
    not_by=(Party.NEW_HIRE,),
)
MENTOR_SHIFT = HumanStep(
    "onboarding.mentor-shift",
    "Confirm the trial shift with notes",
    MentorShiftReport,
    decided_by=MENTOR_ROLES,
    not_by=(Party.NEW_HIRE,),
)
EXAM = HumanStep(
    "onboarding.exam",
    "Score the onboarding exam",
    ExamScore,
    decided_by=(Role.HR,),
    not_by=(Party.NEW_HIRE,),
)
RETRAINING = HumanStep(
    "onboarding.retraining",
    "Retrain the new hire",
    RetrainingReport,
    decided_by=TRAINERS,
    not_by=(Party.NEW_HIRE,),
)
DISMISSAL = HumanStep(
    "onboarding.dismissal-decision",
    "Decide on dismissing the new hire",
    DismissalDecision,
    approval=True,
    decided_by=(Role.SITE_MANAGER,),
    not_by=(Party.NEW_HIRE,),
)
REVISE_TRAINING = HumanStep(
    "onboarding.revise-training",
    "Revise the training: pass rate below target",
    TrainingRevision,
    decided_by=TRAINERS,
    not_by=(Party.NEW_HIRE,),
)
STEPS = (
    CHOOSE_MENTOR,
    TRAINING_DAY,
    MENTOR_SHIFT,
    EXAM,
    RETRAINING,
    DISMISSAL,
    REVISE_TRAINING,
)


def request(
    hire: HireCase,
    key: str,
    *,
    assignee_id: int | None = None,
    role: str | None = None,
    slot: Slot | None = None,
    **context: object,
) -> HumanRequest:
    """Return a request for one step occurrence; HR who registered the hire keeps watch."""
    return HumanRequest(
        process_id=hire.process_id,
        key=key,
        site_id=hire.site_id,
        assignee_id=assignee_id,
        candidate_role=role,
        owner_of_record_id=hire.registered_by_id,
        available_from=slot.available_from if slot else None,
        due_at=slot.due_at if slot else None,
        context={"new_hire": hire.name, **context},
    )


def choose_mentor(hire: HireCase) -> None:
    """Ask the supervisors for a mentor until they name a fit one."""
    round_no, problem = 1, None
    while True:
        key = f"choose-mentor-{round_no}"
        choice = await_human(CHOOSE_MENTOR, request(hire, key, role="supervisor", problem=problem))
        problem = record_mentor(hire.process_id, choice, key)
        if problem is None:
            return
        round_no += 1


def train(hire: HireCase, day: ScheduledDay) -> None:
    """Run one training day: the trainer (or, on trial shifts, the mentor) confirms it."""
    key = f"day-{day.day}"
    step = MENTOR_SHIFT if day.with_mentor else TRAINING_DAY
    holder = hire.mentor_id if day.with_mentor else hire.trainer_id
    slot = Slot(day.available_from, day.due_at)
    context = {"day": day.day, "topic": day.topic, "date": day.on.isoformat()}
    report = await_human(step, request(hire, key, assignee_id=holder, slot=slot, **context))
    record_training_day(hire.process_id, day, report, key)


def sit_exam(hire: HireCase, attempt: int) -> ExamVerdict:
    """Hold the attempt-th exam; a retake the final deadline passed first counts as failed."""
    key = f"exam-{attempt}"
    if final_deadline_missed(hire.process_id, attempt):
        return record_missed_retake(hire.process_id, attempt, key)
    slot = plan_exam(hire.process_id, attempt)
    score = await_human(
        EXAM, request(hire, key, assignee_id=hire.registered_by_id, slot=slot, attempt=attempt)
    )
    return record_exam(hire.process_id, attempt, score, key)


def retrain(hire: HireCase, attempt: int) -> None:
    """Retrain the hire after the attempt-th exam, unless the final deadline passed first."""
    if final_deadline_missed(hire.process_id, attempt + 1):
        return
    slot = plan_retraining(hire.process_id, attempt)
    key = f"retraining-{attempt}"
    report = await_human(
        RETRAINING, request(hire, key, assignee_id=hire.trainer_id, slot=slot, attempt=attempt)
    )
    record_retraining(hire.process_id, attempt, report, key)


@flow(name="onboarding", persist_result=True, flow_run_name=process_run_name)
def onboarding(process_id: str) -> str:
    """Run one new hire's onboarding from mentor choice to post or dismissal; return the outcome."""
    hire = load_new_hire(process_id)
    choose_mentor(hire)
    hire = load_new_hire(process_id)
    for day in plan_training_days(process_id):
        train(hire, day)

    attempt, decisions, missed = 1, 0, []
    while True:
        verdict = sit_exam(hire, attempt)
        missed = assess_trainer(process_id, f"exam-{attempt}")
        if verdict.passed:
            take_post(process_id)
            outcome = f"took the post after {attempt} exam(s)"
            break
        if verdict.action is FailAction.DISMISSAL_DECISION:
            decisions += 1
            key = f"dismissal-{decisions}"
            decision = await_human(
                DISMISSAL, request(hire, key, role="site_manager", attempt=attempt)
            )
            if record_dismissal_decision(process_id, decision, key):
                # A learner who leaves settles the cohort's later attempts.
                missed = assess_trainer(process_id, key)
                outcome = f"dismissed after {attempt} exam(s)"
                break
        retrain(hire, attempt)
        attempt += 1

    for missed_attempt in missed:
        key = f"revise-training-{missed_attempt}"
        revision = await_human(
            REVISE_TRAINING,
            request(hire, key, assignee_id=hire.trainer_id, attempt=missed_attempt),
        )
        record_training_revision(process_id, missed_attempt, revision, key)
    close_onboarding(process_id)
    return outcome
