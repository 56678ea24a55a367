"""The sweep's tasks: SLA clocks, tasks that open today, and recovery of missed hand-offs."""

from datetime import datetime

from prefect import task

from db.models import InboxTask
from db.session import reading, transaction
from domain import sla, substitutes
from domain.inbox import announce, unresumed_tasks
from flows.catalog import STEPS
from tasks.human import HandBack, hand_back
from tasks.process_runs import start_process_run, unstarted_processes
from tasks.retries import ON_TRANSIENT_DB_ERROR

# Rows taken per query; the sweep loops until nothing is left for this tick.
SWEEP_BATCH = 500
# Tasks whose clocks are applied in one transaction: a commit and the role lookups per batch
# instead of per task.
CLOCK_BATCH = 100


@task(name="check-sla-clocks", **ON_TRANSIENT_DB_ERROR)
def check_sla_clocks(now: datetime) -> dict[str, int]:
    """Warn, escalate or remind every task whose clock says so at `now`, and tell of each task
    past a due time that no ladder runs; count what was done."""
    counts = {"warned": 0, "escalated": 0, "reminded": 0, "overdue": 0}
    while True:
        with reading() as session:
            task_ids = sla.due_for_check(session, now, SWEEP_BATCH)
        for start in range(0, len(task_ids), CLOCK_BATCH):
            for action in _apply_clocks(task_ids[start : start + CLOCK_BATCH], now):
                counts[action.split(":")[0]] += 1
        if len(task_ids) < SWEEP_BATCH:
            return counts


def _apply_clocks(task_ids: list[int], now: datetime) -> list[str]:
    try:
        with transaction() as session:
            return sla.apply_clocks(session, task_ids, now, STEPS)
    except Exception:
        if len(task_ids) == 1:
            raise
    # Whatever failed, a failure stays with its task: the batch is rolled back and replayed one
    # transaction per task, so the tasks before it are done and the failing one raises alone.
    done: list[str] = []
    for task_id in task_ids:
        with transaction() as session:
            done.extend(sla.apply_clock(session, task_id, now, STEPS))
    return done


@task(name="announce-available-tasks", **ON_TRANSIENT_DB_ERROR)
def announce_available_tasks(now: datetime) -> int:
    """Tell holders about tasks that opened since the last tick; count them."""
    announced = 0
    while True:
        with transaction() as session:
            task_ids = sla.unannounced_tasks(session, now, SWEEP_BATCH)
            for task_id in task_ids:
                opened = session.get_one(InboxTask, task_id)
                announce(session, opened, STEPS[opened.step], now)
            announced += len(task_ids)
        if len(task_ids) < SWEEP_BATCH:
            return announced


@task(name="resume-completed-tasks", **ON_TRANSIENT_DB_ERROR)
def resume_completed_tasks(now: datetime) -> int:
    """Resume flow runs whose completed task was not handed back (server was down); count them."""
    with reading() as session:
        task_ids = unresumed_tasks(session, now)
    outcomes = [hand_back(task_id, settle_seconds=0, now=now) for task_id in task_ids]
    return outcomes.count(HandBack.RESUMED)


@task(name="start-pending-processes", **ON_TRANSIENT_DB_ERROR)
def start_pending_processes() -> int:
    """Create the flow runs of processes recorded while Prefect was unreachable; count them."""
    return sum(start_process_run(process_id) for process_id in unstarted_processes())


@task(name="hand-over-to-substitutes", **ON_TRANSIENT_DB_ERROR)
def hand_over_to_substitutes(now: datetime) -> int:
    """Move work still held by people now out of office to their substitutes; count it."""
    with transaction() as session:
        return sum(
            len(substitutes.hand_over_open_tasks(session, substitution, None, now))
            for substitution in substitutes.running_substitutions(session, now)
        )
