"""Prefect tasks of the onboarding process; each is a replay-safe write in one transaction."""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import task
from prefect.cache_policies import INPUTS, NONE, RUN_ID, CachePolicy
from prefect.client.orchestration import get_client
from prefect.context import TaskRunContext

from db.base import utcnow
from db.session import reading, transaction
from domain import onboarding
from domain.onboarding import ExamVerdict, MissedDeadline, Slot
from forms.onboarding import (
    DismissalDecision,
    ExamScore,
    MentorChoice,
    RetrainingReport,
    TrainingDayReport,
    TrainingRevision,
)
from rules.onboarding import ScheduledDay
from tasks.human import RETRYABLE_PREFECT_FAILURES, is_pause_of, run_again
from tasks.retries import ON_TRANSIENT_DB_ERROR

logger = logging.getLogger(__name__)


@dataclass
class TaskName(CachePolicy):
    """Key on the task's persisted name.

    INPUTS + RUN_ID alone gives two tasks with the same arguments in one run the same key, so
    the second (close-onboarding after take-post, both given the process id) would be skipped.
    """

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return task_ctx.task.name if task_ctx else None


REPLAY_SAFE = INPUTS + RUN_ID + TaskName()
# Reads must see the latest rows: Prefect's default policy would return a stale cached answer
# to the same question later in the run (the mentor is chosen after the first read).
FRESH_READ = NONE


@dataclass(frozen=True)
class HireCase:
    """What the flow needs to route an onboarding's steps."""

    process_id: str
    site_id: int
    name: str
    registered_by_id: int
    trainer_id: int
    mentor_id: int | None


@task(name="load-new-hire", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def load_new_hire(process_id: str) -> HireCase:
    """Return the routing facts of a new hire, read fresh (the mentor is chosen on the way)."""
    with reading() as session:
        hire = onboarding.get_new_hire(session, process_id)
        return HireCase(
            process_id=process_id,
            site_id=onboarding.site_of(session, hire),
            name=hire.name,
            registered_by_id=hire.registered_by_id,
            trainer_id=hire.trainer_id,
            mentor_id=hire.mentor_id,
        )


@task(name="record-mentor", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_mentor(process_id: str, choice: MentorChoice, key: str) -> str | None:
    """Make the supervisor's choice the mentor; return why not if the choice is unfit."""
    with transaction() as session:
        return onboarding.assign_mentor(session, process_id, choice, key, utcnow())


@task(name="plan-training-days", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def plan_training_days(process_id: str) -> list[ScheduledDay]:
    """Return the hire's training days on the working calendar."""
    with transaction() as session:
        return onboarding.training_plan(session, process_id)


@task(name="record-training-day", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_training_day(
    process_id: str, day: ScheduledDay, report: TrainingDayReport, key: str
) -> None:
    """Record a held training day and the deductions it reports."""
    with transaction() as session:
        onboarding.confirm_training_day(session, process_id, day, report, key, utcnow())


@task(name="plan-exam", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def plan_exam(process_id: str, attempt: int) -> Slot:
    """Return when the attempt-th exam opens and is due."""
    with transaction() as session:
        return onboarding.exam_slot(session, process_id, attempt)


@task(name="record-exam", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_exam(process_id: str, attempt: int, score: ExamScore, key: str) -> ExamVerdict:
    """Record an exam sitting and return its verdict and consequence."""
    with transaction() as session:
        return onboarding.record_exam(session, process_id, attempt, score, key, utcnow())


@task(name="check-final-deadline", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def final_deadline_missed(process_id: str, attempt: int) -> bool:
    """Return whether the final deadline passed before the attempt-th exam (read fresh)."""
    with transaction() as session:
        return onboarding.final_deadline_missed(session, process_id, attempt)


@task(name="record-missed-retake", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_missed_retake(process_id: str, attempt: int, key: str) -> ExamVerdict:
    """Record the retake the final deadline passed first as failed; return its verdict."""
    with transaction() as session:
        return onboarding.record_missed_retake(session, process_id, attempt, key, utcnow())


@task(name="enforce-final-deadlines", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def enforce_final_deadlines(now: datetime) -> dict[str, int]:
    """Close the retakes whose final deadline passed and wake their flow runs; count them."""
    with transaction() as session:
        missed = onboarding.enforce_final_deadlines(session, now)
    return {"final_deadlines_missed": sum(wake(m) for m in missed)}


def wake(missed: MissedDeadline) -> bool:
    """Start the hire's flow run over if it still waits on a closed retake step; it then reads
    the missed deadline. A run already past that step is left alone."""
    if missed.flow_run_id is None:
        return False
    flow_run_id = UUID(missed.flow_run_id)
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run_id).state
            if not (state and state.is_paused()):
                return False
            pause = state.state_details.pause_key
            if not any(is_pause_of(pause, key) for key in missed.waiting_keys):
                return False
            run_again(client, flow_run_id)
    except RETRYABLE_PREFECT_FAILURES as exc:
        # The hire stays listed until the flow records the miss: the next sweep tries again.
        logger.warning("Could not wake flow run %s: %s", flow_run_id, exc)
        return False
    return True


@task(name="assess-trainer", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def assess_trainer(process_id: str, after: str) -> list[int]:
    """Record the trainer's missed cohort targets after a step; return those this hire revealed."""
    with transaction() as session:
        return onboarding.assess_trainer(session, process_id, utcnow())


@task(name="take-post", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def take_post(process_id: str) -> None:
    """The hire formally takes the post; tell them, the supervisors and HR."""
    with transaction() as session:
        onboarding.take_post(session, process_id, utcnow())


@task(name="record-dismissal-decision", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_dismissal_decision(process_id: str, decision: DismissalDecision, key: str) -> bool:
    """Apply the site manager's decision; return whether the hire is dismissed."""
    with transaction() as session:
        return onboarding.decide_dismissal(session, process_id, decision, key, utcnow())


@task(name="plan-retraining", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def plan_retraining(process_id: str, round_no: int) -> Slot:
    """Open the retraining after the round_no-th exam; return when it opens and is due."""
    with transaction() as session:
        retraining = onboarding.open_retraining(session, process_id, round_no, utcnow())
        return Slot(retraining.opened_at, retraining.due_at)


@task(name="record-retraining", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_retraining(process_id: str, round_no: int, report: RetrainingReport, key: str) -> None:
    """Record the trainer's confirmation of a retraining."""
    with transaction() as session:
        onboarding.confirm_retraining(session, process_id, round_no, report, key, utcnow())


@task(name="record-training-revision", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def record_training_revision(
    process_id: str, attempt: int, revision: TrainingRevision, key: str
) -> None:
    """Record the trainer's revised training after a missed pass-rate target."""
    with transaction() as session:
        onboarding.record_training_revision(
            session, process_id, attempt, revision.revision, key, utcnow()
        )


@task(name="close-onboarding", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def close_onboarding(process_id: str) -> None:
    """Close the onboarding process."""
    with transaction() as session:
        onboarding.close_onboarding(session, process_id, utcnow())
