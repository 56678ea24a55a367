"""The human step: open an inbox task and suspend the flow; hand a person's decision back to it.

A flow calls `await_human`. It writes the inbox task (and its "task assigned" notifications) in one
transaction, keyed by (flow run, step key), then suspends: the flow's process exits and nothing
runs while the person thinks. When the inbox records a completion it calls `hand_back`, which
resumes the run; Prefect re-runs the flow from the top, every earlier step is a no-op replay,
and each completed step answers with the decision the inbox stored.

The inbox's row is the record of a decision, so a flow may also open several tasks at once
(`open_human`, e.g. one per training session) and then await them in order: one completed
before the flow reached it is simply read, and nobody waits on someone else's lateness.
"""

import logging
import time
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import httpx
from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import SetStateStatus
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.flow_runs import suspend_flow_run
from prefect.states import Scheduled
from pydantic import BaseModel
from sqlalchemy import update

from db.base import utcnow
from db.models import InboxTask, TaskState
from db.session import reading, transaction
from domain.events import EventKind, record_event
from domain.inbox import open_task, resume_retry_after
from domain.steps import HumanRequest, HumanStep
from tasks.person_waits import within_person_wait
from tasks.replay import FRESH_READ, REPLAY_SAFE
from tasks.retries import ON_TRANSIENT_DB_ERROR

F = TypeVar("F", bound=BaseModel)
logger = logging.getLogger(__name__)


class FlowNotWaiting(RuntimeError):
    """The flow run is not (yet) suspended on this step, e.g. it has not reached the pause."""


class FlowWaitingElsewhere(FlowNotWaiting):
    """The flow run waits on another step; it reads this decision when it gets here."""


class HandBack(StrEnum):
    """What became of a completed task's decision when it was handed back to its flow run."""

    RESUMED = "resumed"  # the run waited on this step and goes on (or starts over to read it)
    AHEAD = "ahead"  # the run waits on an earlier step and reads the decision when it gets here
    RETRY = "retry"  # Prefect could not take it now: the sweep tries again
    UNDER_WAY = "under_way"  # Prefect is slow to answer: the hand-back goes on in the background

    @property
    def settled(self) -> bool:
        """Whether the decision is in the flow's hands, as far as the person is concerned."""
        return self not in (HandBack.RETRY, HandBack.UNDER_WAY)


# A completion made ahead of its step needs no hand-back (the flow reads the inbox when it gets
# there), but the sweep looks again now and then in case the run was lost meanwhile. Without the
# pause, each such task cost a Prefect read every minute and crowded out genuine retries.
AHEAD_RECHECK = timedelta(minutes=10)

# Joins a step's key to the round of its wait after a resume the inbox did not make. Step keys
# are lowercase words joined by single dashes, so a double dash never occurs in one.
RESUME_ROUND_MARK = "--"

# How long the sweep's hand-back waits for its flow run to finish suspending: not at all, as it
# comes back next minute anyway, and a wait per stuck task would make one tick outlast the next.
# A person's completion, handed back in the background, waits for the suspend to land (state,
# then input schema): under load that takes a minute or more, and the sweep's retry comes later.
PERSON_HAND_BACK_SETTLE_SECONDS = 180.0
SUSPEND_POLL_SECONDS = (0.25, 3.0)  # first and longest pause between looks

# Failures that a later retry can overcome (server down or overloaded, run not paused yet, a
# deployment not registered yet), and a run the server does not know (deleted, or a server
# reset): recorded for ops to see, never allowed to stop the sweep's other work.
RETRYABLE_PREFECT_FAILURES = (
    httpx.TransportError,
    PrefectHTTPStatusError,
    FlowNotWaiting,
    ObjectNotFound,
)


@task(
    name="open-inbox-task", cache_policy=REPLAY_SAFE, persist_result=True, **ON_TRANSIENT_DB_ERROR
)
def open_inbox_task(step: HumanStep[Any], request: HumanRequest, flow_run_id: str) -> int:
    """Create the inbox task for this step occurrence (once) and return its id."""
    with transaction() as session:
        return open_task(session, step, request, flow_run_id, utcnow()).id


def _flow_run() -> FlowRun:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("human steps belong in a flow run")
    return context.flow_run


def open_human(step: HumanStep[Any], request: HumanRequest) -> int:
    """Put the step in a person's inbox now, to be awaited later; return the task id."""
    return open_inbox_task(step, request, str(_flow_run().id))


def await_human(step: HumanStep[F], request: HumanRequest) -> F:
    """Put the step in a person's inbox (once) and wait, suspended, for their validated decision.

    The decision is always the one the inbox stored, never a resume's run input: anyone who can
    reach Prefect's API can resume a run, but only the inbox checks who decides and what.
    """
    flow_run = _flow_run()
    task_id = open_inbox_task(step, request, str(flow_run.id))
    # Prefect does not pause twice on one key (it hands back the input stored under it), so a
    # wait that was left without the inbox's decision (a resume through Prefect's API, or a
    # restart of the run) is taken up again under the step's next round of key. The keys used
    # are known from the start of this run, so a replay walks the same rounds to the same pause.
    used = flow_run.empirical_policy.pause_keys or set()
    round_ = 0
    while (decided := read_decision(task_id)) is None:
        key = pause_key(request.key, round_)
        if key in used:
            check_resume_outside_inbox(request.process_id, task_id, key)
        else:
            # No timeout: deadlines belong to the SLA sweep; a suspend timeout would fail the run.
            suspend_flow_run(wait_for_input=step.form, key=key, timeout=None)
        round_ += 1
    return step.form.model_validate(decided)


def pause_key(step_key: str, round_: int) -> str:
    """Return the key of the `round_`-th pause on a step (0: the step's own key)."""
    return step_key if round_ == 0 else f"{step_key}{RESUME_ROUND_MARK}{round_}"


def is_pause_of(pause: str | None, step_key: str) -> bool:
    """Return whether a pause key is one of the step's rounds."""
    if pause == step_key:
        return True
    prefix, mark, round_ = (pause or "").rpartition(RESUME_ROUND_MARK)
    return bool(mark) and prefix == step_key and round_.isdigit()


@task(name="check-resume-outside-inbox", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def check_resume_outside_inbox(process_id: str, task_id: int, key: str) -> None:
    """Record (once) a resume of the pause `key` that carried input the inbox never gave."""
    flow_run_id = _flow_run().id
    with get_client(sync_client=True) as client:
        if not _input_stored(client, flow_run_id, f"suspended-{key}-response"):
            return  # the run was restarted while it waited: nothing was handed to it
    # Who resumed it cannot be known: Prefect's API does not say.
    with transaction() as session:
        recorded = record_event(
            session,
            process_id=process_id,
            task_id=task_id,
            kind=EventKind.RESUMED_OUTSIDE_INBOX,
            at=utcnow(),
            data={"pause_key": key},
            dedup_key=f"resumed-outside-inbox:{flow_run_id}:{key}",
        )
    if recorded is not None:
        logger.warning(
            "Process %s: its flow run was resumed outside the inbox while task %s is open; "
            "its run input is ignored and the step waits again",
            process_id,
            task_id,
        )


def read_decision(task_id: int) -> dict[str, Any] | None:
    """Return the stored decision of a completed task (now handed to its flow), else None."""
    # Not a Prefect task: between opening the task and suspending, every round trip widens the
    # window in which a stopped server leaves the run neither running nor paused. A read
    # takes no lock, and a failure here is the watchdog's to restart.
    with reading() as session:
        task_row = session.get_one(InboxTask, task_id)
        if task_row.state != TaskState.DONE:
            return None
        decision, handed_over = task_row.result or {}, task_row.resumed_at is not None
    if not handed_over:
        _record(task_id, resumed_at=utcnow(), error=None, retry_at=None)
    return decision


def hand_back(task_id: int, settle_seconds: float = 0, now: datetime | None = None) -> HandBack:
    """Resume the flow run waiting on a completed task; return what became of the decision.

    A failure (Prefect server down) is recorded on the task, and the sweep calls this again.
    """
    now = now or utcnow()
    with reading() as session:
        task_row = session.get_one(InboxTask, task_id)
        if task_row.resumed_at is not None:
            return HandBack.RESUMED
        flow_run_id, step_key, decision = task_row.flow_run_id, task_row.step_key, task_row.result
    try:
        _resume_when_waiting(UUID(flow_run_id), step_key, decision or {}, settle_seconds)
    except FlowWaitingElsewhere:
        _record(task_id, resumed_at=None, error=None, retry_at=now + AHEAD_RECHECK)
        return HandBack.AHEAD
    except RETRYABLE_PREFECT_FAILURES as exc:
        logger.warning("Could not resume flow run %s for task %s: %s", flow_run_id, task_id, exc)
        error = f"{type(exc).__name__}: {exc}"[:500]
        _record(task_id, resumed_at=None, error=error, retry_at=now + resume_retry_after())
        return HandBack.RETRY
    _record(task_id, resumed_at=now, error=None, retry_at=None)
    return HandBack.RESUMED


def hand_back_for_person(task_id: int) -> HandBack:
    """Hand back a completion a person just made, answering them in bounded time."""
    handed = within_person_wait(
        lambda: hand_back(task_id, settle_seconds=PERSON_HAND_BACK_SETTLE_SECONDS),
        f"Hand-back of task {task_id}",
    )
    return HandBack.UNDER_WAY if handed is None else handed


def _resume_when_waiting(
    flow_run_id: UUID, step_key: str, decision: dict[str, Any], settle_seconds: float
) -> None:
    # The inbox task is written a moment before the flow finishes suspending (state, then input
    # schema), so a quick person can arrive first; wait for the pause rather than fail.
    deadline = time.monotonic() + settle_seconds
    pause, longest = SUSPEND_POLL_SECONDS
    while True:
        try:
            _resume(flow_run_id, step_key, decision)
            return
        except FlowWaitingElsewhere:
            raise
        except FlowNotWaiting:
            if time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, longest)


def _resume(flow_run_id: UUID, step_key: str, decision: dict[str, Any]) -> None:
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        state = flow_run.state
        if (
            state is not None
            and state.is_paused()
            and is_pause_of(state.state_details.pause_key, step_key)
        ):
            outcome = client.resume_flow_run(flow_run_id, run_input=decision)
            if outcome.status != SetStateStatus.ACCEPT and not _input_stored(
                client, flow_run_id, f"suspended-{step_key}-response"
            ):
                # Prefect refuses a pause whose input schema was never stored (its server went
                # down mid-suspend). The decision is in the inbox, where the replay reads it.
                # (Refused because another hand-back resumed it first, the input is stored.)
                logger.warning("Resume of %s refused (%s): run again", flow_run_id, outcome.details)
                run_again(client, flow_run_id)
            return
        if state is not None and state.is_crashed():
            # Its process or server died; a replay from the top reads the decision here.
            run_again(client, flow_run_id)
            return
        # Resuming any other pause would hand this decision to a different step, so only
        # accept the state when this step's input is already stored (an earlier resume won).
        if _input_stored(client, flow_run_id, f"suspended-{step_key}-response"):
            return
        if state is not None and state.is_paused():
            # Opened ahead of the step the flow waits on: nothing to wake now.
            raise FlowWaitingElsewhere(f"flow run waits on {state.state_details.pause_key}")
        raise FlowNotWaiting(
            f"flow run is {state.name if state else 'unknown'}, not waiting on {step_key}"
        )


def run_again(client: Any, flow_run_id: UUID) -> None:
    """Schedule the run to start over now, as a resume would: every finished step replays."""
    client.set_flow_run_state(flow_run_id, Scheduled(name="Resuming"), force=True)


def _input_stored(client: Any, flow_run_id: UUID, key: str) -> bool:
    """Return whether the flow run holds the input stored under `key`."""
    try:
        client.read_flow_run_input(flow_run_id, key=key)
    except ObjectNotFound:
        return False
    except PrefectHTTPStatusError as exc:
        # Prefect 3.8's sync client reports a missing input as a plain HTTP 404.
        if exc.response.status_code == httpx.codes.NOT_FOUND:
            return False
        raise
    return True


def _record(
    task_id: int, *, resumed_at: datetime | None, error: str | None, retry_at: datetime | None
) -> None:
    # Never undo a hand-over that the flow (await_human) recorded meanwhile.
    with transaction() as session:
        session.execute(
            update(InboxTask)
            .where(InboxTask.id == task_id, InboxTask.resumed_at.is_(None))
            .values(resumed_at=resumed_at, resume_error=error, resume_retry_at=retry_at)
        )
