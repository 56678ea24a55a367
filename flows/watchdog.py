"""The watchdog (every two minutes): no process dies silently.

1. Find every running process whose flow run failed, crashed or was cancelled, is stuck
   starting, late or running past the policy's bound, or is gone while no task of it is open.
2. Start each one over, recording why: its replay reads every decision the inbox stored. After
   too many restarts in a row with nothing happening in between, flag it for ops instead.
"""

from datetime import datetime

from prefect import flow

from db.base import utcnow
from domain.watchdog import WatchdogPolicy
from tasks.process_runs import Outcome, find_stuck_processes, start_over


@flow(name="process-watchdog")
def process_watchdog(
    now: datetime | None = None, policy: WatchdogPolicy | None = None
) -> dict[str, int]:
    """Run one watchdog tick at `now` (default: the current time); count what it did."""
    now = now or utcnow()
    policy = policy or WatchdogPolicy()
    stuck = find_stuck_processes(now, policy)
    outcomes = [start_over(process, now, policy) for process in stuck]
    return {"stuck": len(stuck), **{outcome: outcomes.count(outcome) for outcome in Outcome}}
