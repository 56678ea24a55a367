"""No silent death: which running process lost its flow run, and when ops must take over.

The process row and its events are the truth; a flow run is only the worker that carries the
process on. The watchdog judges each running process's run by the rule below, starts a lost
one over (the replay reads every stored decision), and after `max_restarts` restarts in a row
with nothing happening in between it stops trying and flags the process for ops.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, aliased

from config import get_settings
from db.models import Event, InboxTask, Process, ProcessState, TaskState
from domain.events import EventKind, record_event

T = TypeVar("T", bound=tuple[Any, ...])

# The watchdog's own events: anything else in a process's history means it moved on.
WATCHDOG_EVENTS = (EventKind.PROCESS_RESTARTED, EventKind.PROCESS_FLAGGED)

# Prefect state types (their `type` values) the rule tells apart.
DEAD_STATES = frozenset({"FAILED", "CRASHED", "CANCELLED"})
STARTING_STATES = frozenset({"PENDING", "CANCELLING"})  # Submitting is a Pending state


def configured_stuck_after() -> timedelta:
    """Return the bound set by KEFU_WATCHDOG_STUCK_AFTER_SECONDS (15 minutes by default)."""
    return timedelta(seconds=get_settings().watchdog_stuck_after_seconds)


class WatchdogPolicy(BaseModel):
    """When a flow run counts as stuck, and how many restarts in a row before ops are told."""

    stuck_after: timedelta = Field(default_factory=configured_stuck_after, gt=timedelta(0))
    max_restarts: int = Field(default=3, ge=1)


@dataclass(frozen=True)
class RunSnapshot:
    """What Prefect says of a flow run: its state type and name, and since when it is due."""

    state_type: str
    state_name: str
    # When the state was entered; for a scheduled run, when it was due to start.
    since: datetime


def restart_reason(
    run: RunSnapshot | None, has_open_task: bool, now: datetime, policy: WatchdogPolicy
) -> str | None:
    """Return why a running process's flow run must start over, or None if it is fine."""
    if run is None:
        # Prefect lost the run; with a task open the inbox can still finish the step.
        return None if has_open_task else "missing"
    if run.state_type in DEAD_STATES:
        return run.state_name.lower()
    overdue = run.since + policy.stuck_after <= now
    if run.state_type == "SCHEDULED" and overdue:
        return "late"
    if run.state_type in STARTING_STATES | {"RUNNING"} and overdue:
        return f"stuck-{run.state_name.lower()}"
    return None  # paused on a person's step, running, or due to start soon


@dataclass(frozen=True)
class WatchedProcess:
    """A running process and the flow run that carries it."""

    process_id: str
    kind: str
    flow_run_id: str


def running_processes(session: Session, after: str, limit: int) -> list[WatchedProcess]:
    """Return the running processes with a flow run, in id order from after `after`."""
    rows = session.execute(
        select(Process.id, Process.kind, Process.flow_run_id)
        .where(
            Process.state == ProcessState.RUNNING,
            Process.flow_run_id.is_not(None),
            Process.id > after,
        )
        .order_by(Process.id)
        .limit(limit)
    )
    return [WatchedProcess(id_, kind, str(flow_run_id)) for id_, kind, flow_run_id in rows]


def has_open_task(session: Session, process_id: str) -> bool:
    """Return whether a person can still act on the process."""
    return (
        session.scalar(
            select(InboxTask.id)
            .where(InboxTask.process_id == process_id, InboxTask.state == TaskState.OPEN)
            .limit(1)
        )
        is not None
    )


@dataclass(frozen=True)
class RestartStreak:
    """The watchdog's restarts of a process since it last moved on."""

    since_event_id: int  # the process's last event that was not the watchdog's (0: none)
    restarts: int
    flagged: bool


def restart_streak(session: Session, process_id: str) -> RestartStreak:
    """Return how often the watchdog restarted the process since it last moved on."""
    last_progress = session.scalar(
        select(func.max(Event.id)).where(
            Event.process_id == process_id, Event.kind.not_in(WATCHDOG_EVENTS)
        )
    )
    since = last_progress or 0
    counts = dict(
        session.execute(
            select(Event.kind, func.count())
            .where(Event.process_id == process_id, Event.id > since)
            .group_by(Event.kind)
        ).all()
    )
    return RestartStreak(
        since,
        counts.get(EventKind.PROCESS_RESTARTED, 0),
        counts.get(EventKind.PROCESS_FLAGGED, 0) > 0,
    )


def record_restart(
    session: Session, process_id: str, streak: RestartStreak, reason: str, now: datetime
) -> bool:
    """Claim the streak's next restart of the process; False if another watchdog took it."""
    number = streak.restarts + 1
    event = record_event(
        session,
        process_id=process_id,
        kind=EventKind.PROCESS_RESTARTED,
        at=now,
        data={"reason": reason, "restart": number},
        dedup_key=f"{EventKind.PROCESS_RESTARTED}:{process_id}:{streak.since_event_id}:{number}",
    )
    return event is not None


def flag_for_ops(
    session: Session, process_id: str, streak: RestartStreak, reason: str, now: datetime
) -> bool:
    """Flag the process for ops (once per streak); return whether it was flagged now."""
    event = record_event(
        session,
        process_id=process_id,
        kind=EventKind.PROCESS_FLAGGED,
        at=now,
        data={"reason": reason, "restarts": streak.restarts},
        dedup_key=f"{EventKind.PROCESS_FLAGGED}:{process_id}:{streak.since_event_id}",
    )
    return event is not None


def move_to_run(session: Session, process_id: str, lost_run_id: str, new_run_id: str) -> None:
    """Hand a process, and the tasks its lost flow run opened, to the run that replaces it."""
    session.execute(update(Process).where(Process.id == process_id).values(flow_run_id=new_run_id))
    # The replay finds each step's task, and the decision in it, by (flow run, step key).
    session.execute(
        update(InboxTask)
        .where(InboxTask.process_id == process_id, InboxTask.flow_run_id == lost_run_id)
        .values(flow_run_id=new_run_id)
    )


def _flagged(statement: Select[T]) -> Select[T]:
    """Keep running processes whose latest event is the watchdog's flag (joined to `statement`)."""
    later = aliased(Event)
    latest = (
        select(func.max(later.id))
        .where(later.process_id == Process.id)
        .correlate(Process)
        .scalar_subquery()
    )
    return statement.join(Event, Event.process_id == Process.id).where(
        Process.state == ProcessState.RUNNING,
        Event.kind == EventKind.PROCESS_FLAGGED,
        Event.id == latest,
    )


@dataclass(frozen=True)
class FlaggedProcess:
    """A process the watchdog gave up on, for ops."""

    process_id: str
    kind: str
    subject: str
    flow_run_id: str | None
    flagged_at: datetime
    reason: str
    restarts: int


def flagged_processes(session: Session, limit: int) -> list[FlaggedProcess]:
    """Return the processes flagged for ops, most recently flagged first."""
    rows = session.execute(_flagged(select(Process, Event)).order_by(Event.id.desc()).limit(limit))
    return [
        FlaggedProcess(
            process.id,
            process.kind,
            process.subject,
            process.flow_run_id,
            event.at,
            event.data.get("reason", ""),
            event.data.get("restarts", 0),
        )
        for process, event in rows
    ]


def flagged_count(session: Session) -> int:
    """Return how many running processes are flagged for ops."""
    return session.scalar(_flagged(select(func.count()).select_from(Process))) or 0
