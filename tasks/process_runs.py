"""Start the flow run of a recorded process, and start it over when the run was lost.

Starting is safe to call again until it succeeds; the watchdog's part is in domain/watchdog.py.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_UI_URL
from prefect.states import Scheduled
from sqlalchemy import select, update

from db.models import Process, ProcessState
from db.session import reading, transaction
from domain import watchdog
from tasks.human import RETRYABLE_PREFECT_FAILURES, run_again
from tasks.retries import ON_TRANSIENT_DB_ERROR
from tasks.run_names import run_labels

logger = logging.getLogger(__name__)

# Deployment of each process kind, as named in prefect.yaml ("<flow name>/<deployment name>").
DEPLOYMENTS = {
    "complaint": "complaint/complaint",
    "training_plan": "training-plan/training-plan",
    "onboarding": "onboarding/onboarding",
    "resignation": "resignation/resignation",
}


def start_process_run(process_id: str) -> bool:
    """Create the process's flow run (idempotently, keyed by the process) and record its id."""
    with reading() as session:
        process = session.get_one(Process, process_id)
        if process.flow_run_id is not None:
            return True
        deployment_name = DEPLOYMENTS[process.kind]
        labels = run_labels(session, process_id)
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(deployment_name)
            flow_run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"process_id": process_id},
                name=labels.name,
                tags=labels.tags,
                # The same process never gets two runs, however often this is retried.
                idempotency_key=f"process:{process_id}",
            )
    except RETRYABLE_PREFECT_FAILURES as exc:
        logger.warning("Could not start the flow run of process %s: %s", process_id, exc)
        return False
    with transaction() as session:
        session.execute(
            update(Process)
            .where(Process.id == process_id, Process.flow_run_id.is_(None))
            .values(flow_run_id=str(flow_run.id), state=ProcessState.RUNNING)
        )
    return True


def unstarted_processes(limit: int = 100) -> list[str]:
    """Return ids of processes recorded but without a flow run yet."""
    with reading() as session:
        return list(
            session.scalars(
                select(Process.id)
                .where(Process.state == ProcessState.STARTING)
                .order_by(Process.started_at)
                .limit(limit)
            )
        )


def flow_run_url(flow_run_id: str | UUID, ui_url: str) -> str:
    """Return the Prefect UI page of a flow run."""
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def process_run_url(flow_run_id: str | None) -> str | None:
    """Return the Prefect UI page of a process's flow run, when it has one and a UI is known."""
    ui_url = PREFECT_UI_URL.value()
    return flow_run_url(flow_run_id, ui_url) if flow_run_id and ui_url else None


# Flow runs read from Prefect per request, and processes judged per batch.
WATCH_BATCH = 200
# A replacement for a lost run is created on hold, so that it cannot start before the tasks of
# the lost run are handed to it; it is released at once, or by itself after this long.
REPLACEMENT_HOLD = timedelta(minutes=5)


class Outcome(StrEnum):
    """What the watchdog did with a process whose flow run was lost."""

    RESTARTED = "restarted"
    FLAGGED = "flagged"  # too many restarts in a row: ops take over
    LEFT = "left"  # flagged before, or another watchdog got there first


@dataclass(frozen=True)
class StuckProcess:
    """A running process whose flow run must start over, and why."""

    process: watchdog.WatchedProcess
    reason: str
    run_exists: bool


@task(name="find-stuck-processes", **ON_TRANSIENT_DB_ERROR)
def find_stuck_processes(now: datetime, policy: watchdog.WatchdogPolicy) -> list[StuckProcess]:
    """Return every running process whose flow run died, is stuck, or is gone."""
    stuck: list[StuckProcess] = []
    after = ""
    while True:
        with reading() as session:
            batch = watchdog.running_processes(session, after, WATCH_BATCH)
        if not batch:
            return stuck
        runs = _read_runs([UUID(p.flow_run_id) for p in batch])
        for process in batch:
            run = runs.get(process.flow_run_id)
            stuck.extend(_judge(process, run, now, policy))
        after = batch[-1].process_id


def _read_runs(flow_run_ids: list[UUID]) -> dict[str, FlowRun]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)),
            # Prefect 3.8's sync client sends None for either when left out, which the server
            # refuses.
            sort=FlowRunSort.ID_DESC,
            limit=len(flow_run_ids),
        )
    return {str(run.id): run for run in runs}


def _judge(
    process: watchdog.WatchedProcess,
    run: FlowRun | None,
    now: datetime,
    policy: watchdog.WatchdogPolicy,
) -> list[StuckProcess]:
    snapshot = _snapshot(run) if run is not None else None
    open_task = False
    if snapshot is None:
        with reading() as session:
            open_task = watchdog.has_open_task(session, process.process_id)
    reason = watchdog.restart_reason(snapshot, open_task, now, policy)
    return [StuckProcess(process, reason, run is not None)] if reason else []


def _snapshot(run: FlowRun) -> watchdog.RunSnapshot | None:
    state = run.state
    if state is None:
        return None
    since = state.timestamp
    if state.is_scheduled() and state.state_details.scheduled_time is not None:
        since = state.state_details.scheduled_time
    return watchdog.RunSnapshot(state.type.value, state.name or state.type.value, since)


@task(name="start-process-over", **ON_TRANSIENT_DB_ERROR)
def start_over(stuck: StuckProcess, now: datetime, policy: watchdog.WatchdogPolicy) -> Outcome:
    """Start a stuck process's flow run over, or flag it for ops after too many restarts."""
    process_id = stuck.process.process_id
    with transaction() as session:
        streak = watchdog.restart_streak(session, process_id)
        if streak.flagged:
            return Outcome.LEFT
        if streak.restarts >= policy.max_restarts:
            watchdog.flag_for_ops(session, process_id, streak, stuck.reason, now)
            logger.error(
                "Process %s: flow run %s %s after %d restarts; flagged for ops",
                process_id,
                stuck.process.flow_run_id,
                stuck.reason,
                streak.restarts,
            )
            return Outcome.FLAGGED
        if not watchdog.record_restart(session, process_id, streak, stuck.reason, now):
            return Outcome.LEFT
    logger.warning(
        "Process %s: flow run %s %s; starting it over",
        process_id,
        stuck.process.flow_run_id,
        stuck.reason,
    )
    with get_client(sync_client=True) as client:
        if stuck.run_exists:
            run_again(client, UUID(stuck.process.flow_run_id))
        else:
            _replace_lost_run(client, stuck.process, now)
    return Outcome.RESTARTED


def _replace_lost_run(client: Any, process: watchdog.WatchedProcess, now: datetime) -> None:
    deployment = client.read_deployment_by_name(DEPLOYMENTS[process.kind])
    with reading() as session:
        labels = run_labels(session, process.process_id)
    replacement = client.create_flow_run_from_deployment(
        deployment.id,
        parameters={"process_id": process.process_id},
        name=labels.name,
        tags=labels.tags,
        idempotency_key=f"process:{process.process_id}:after:{process.flow_run_id}",
        state=Scheduled(scheduled_time=now + REPLACEMENT_HOLD),
    )
    with transaction() as session:
        watchdog.move_to_run(session, process.process_id, process.flow_run_id, str(replacement.id))
    run_again(client, replacement.id)
