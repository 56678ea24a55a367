"""The sweep at scale: one tick with 1,000,000 open tasks and nothing due, and one tick that
escalates 10,000 overdue tasks. Each next to a baseline tick over an empty inbox."""

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert, select

from config import get_settings
from db.base import utcnow
from db.migrate import upgrade
from db.models import Event, InboxTask, OutboxMessage, Process, ProcessKind, ProcessState, User
from db.session import get_engine, transaction
from domain.events import EventKind
from domain.sla import ladder_key
from launch.demo import seed_demo
from tasks.resignation import sweep_leavers
from tasks.sweep import (
    announce_available_tasks,
    check_sla_clocks,
    hand_over_to_substitutes,
    resume_completed_tasks,
    start_pending_processes,
)

IDLE_TASKS = 1_000_000
OVERDUE_TASKS = 10_000
INSERT_BATCH = 20_000
IDLE_TARGET_MS = 50
ESCALATION_TARGET_S = 10


def tick() -> dict[str, int]:
    """Run every part of one sweep tick (the flow's tasks, without the Prefect wrapper)."""
    now = utcnow()
    return {
        "started": start_pending_processes.fn(),
        "resumed": resume_completed_tasks.fn(now),
        "announced": announce_available_tasks.fn(now),
        **sweep_leavers.fn(now),
        "handed_to_substitutes": hand_over_to_substitutes.fn(now),
        **check_sla_clocks.fn(now),
    }


def timed(action: Callable[[], dict[str, int]], repeat: int = 1) -> tuple[float, dict[str, int]]:
    """Return the best wall time in seconds of `repeat` runs, and the last result."""
    best, result = float("inf"), {}
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def run() -> list[str]:
    """Fill the inbox, time the ticks, and return the lines to print."""
    url = get_settings().database_url
    upgrade(url)
    with transaction() as session:
        seed_demo(session)
        staff = session.scalars(select(User).where(User.username == "zhangmin")).one()
        process = Process(kind=ProcessKind.COMPLAINT, site_id=staff.site_id, subject="bench",
                          state=ProcessState.RUNNING, started_by_id=staff.id)  # fmt: skip
        session.add(process)
        session.flush()
        process_id, staff_id, site_id = process.id, staff.id, staff.site_id
    dialect = get_engine().dialect.name

    empty_s, _ = timed(tick, repeat=5)
    started = time.perf_counter()
    insert_tasks(IDLE_TASKS, process_id, staff_id, site_id, overdue=False)
    fill_s = time.perf_counter() - started
    idle_s, idle_result = timed(tick, repeat=5)
    assert not any(idle_result.values()), idle_result

    insert_tasks(OVERDUE_TASKS, process_id, staff_id, site_id, overdue=True)
    escalate_s, escalated = timed(tick)
    assert escalated["escalated"] == OVERDUE_TASKS, escalated
    with transaction() as session:
        events = len(
            session.scalars(select(Event.id).where(Event.kind == EventKind.TASK_ESCALATED)).all()
        )
        messages = len(session.scalars(select(OutboxMessage.id)).all())

    idle_ms, empty_ms = idle_s * 1000, empty_s * 1000
    return [
        f"SLA sweep tick ({dialect}; {IDLE_TASKS:,} open tasks inserted in {fill_s:.0f} s)",
        f"  baseline: empty inbox            {empty_ms:8.1f} ms",
        f"  {IDLE_TASKS:,} open, nothing due     {idle_ms:8.1f} ms   "
        f"(target ≤ {IDLE_TARGET_MS} ms; {idle_ms / empty_ms:.2f} × baseline)",
        f"  {OVERDUE_TASKS:,} overdue → escalated      {escalate_s:8.2f} s    "
        f"(target ≤ {ESCALATION_TARGET_S} s; {escalate_s / OVERDUE_TASKS * 1000:.2f} ms a task; "
        f"{events:,} escalation events, {messages:,} notifications queued)",
    ]


def insert_tasks(count: int, process_id: str, staff_id: int, site_id: int, overdue: bool) -> None:
    """Insert `count` open complaint tasks: idle ones due in a week, or overdue ones."""
    now = utcnow()
    started = now - timedelta(hours=3) if overdue else now
    ladder = ladder_key("complaint", "noise", "urgent")
    next_check = now - timedelta(minutes=1) if overdue else now + timedelta(days=7)
    run_id = str(uuid.uuid4())
    for offset in range(0, count, INSERT_BATCH):
        rows = [
            {
                "process_id": process_id,
                "flow_run_id": run_id,
                "step_key": f"{'overdue' if overdue else 'idle'}-{offset + i}",
                "step": "complaint.first-response",
                "state": "open",
                "site_id": site_id,
                "assignee_id": staff_id,
                "owner_of_record_id": staff_id,
                "available_from": started,
                "announced_at": started,
                "due_at": started + timedelta(hours=2),
                "context": {},
                "created_at": started,
                "tier": "staff",
                "sla_ladder": ladder,
                "sla_target": "first_response",
                "sla_started_at": started,
                "next_check_at": next_check,
            }
            for i in range(min(INSERT_BATCH, count - offset))
        ]
        with transaction() as session:
            session.execute(insert(InboxTask), rows)
