"""The sweep (every minute): keep every process moving when nobody is watching.

1. Start the flow runs of processes recorded while Prefect was unreachable.
2. Hand completed tasks back to flow runs that could not be resumed at the time.
3. Announce tasks that open now (e.g. onboarding day N on working day N).
4. Leavers: move work that still reaches them to their successor; close their accounts after
   the last working day.
5. New hires: a final deadline passed without a passing retake → the dismissal decision.
6. Out of office: work still held by someone whose substitution has begun goes to the substitute.
7. SLA clocks: warn before a breach, escalate one tier on a breach, remind the top tier; a task
   past a due time that no ladder runs: tell its holder and its owner of record, once.

Each part is idempotent: two sweeps of the same minute change nothing twice.
"""

from datetime import datetime

from prefect import flow

from db.base import utcnow
from tasks.onboarding import enforce_final_deadlines
from tasks.resignation import sweep_leavers
from tasks.sweep import (
    announce_available_tasks,
    check_sla_clocks,
    hand_over_to_substitutes,
    resume_completed_tasks,
    start_pending_processes,
)


@flow(name="sla-sweep")
def sla_sweep(now: datetime | None = None) -> dict[str, int]:
    """Run one sweep tick at `now` (default: the current time); return what it did."""
    now = now or utcnow()
    return {
        "started": start_pending_processes(),
        "resumed": resume_completed_tasks(now),
        "announced": announce_available_tasks(now),
        **sweep_leavers(now),
        **enforce_final_deadlines(now),
        "handed_to_substitutes": hand_over_to_substitutes(now),
        **check_sla_clocks(now),
    }
