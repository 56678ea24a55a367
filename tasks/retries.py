"""How the flows' tasks meet a transient database error: tried again with back-off, not fatal.

A lock held a moment too long (SQLite), a deadlock, a serialization failure or a dropped
connection (PostgreSQL) goes away by itself; every task is repeatable, so trying it again is
safe. Any other failure fails at once, as before.
"""

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import TaskOptions

from db.session import is_transient

# Seconds before each new attempt; the jitter spreads runs that collided so that they do not
# collide again.
TRANSIENT_RETRY_DELAYS: list[float] = [1, 2, 5, 10, 20]
TRANSIENT_RETRY_JITTER = 0.5


def failed_transiently(_task: Task[..., Any], _task_run: TaskRun, state: State[Any]) -> bool:
    """Return whether a failed task run failed on a transient database error."""
    try:
        state.result()
    except Exception as error:  # the failure being judged, re-raised by Prefect
        return is_transient(error)
    return False


# Every task of tasks/ takes these: `@task(name=..., **ON_TRANSIENT_DB_ERROR)`.
ON_TRANSIENT_DB_ERROR = TaskOptions(
    retries=len(TRANSIENT_RETRY_DELAYS),
    retry_delay_seconds=TRANSIENT_RETRY_DELAYS,
    retry_jitter_factor=TRANSIENT_RETRY_JITTER,
    retry_condition_fn=failed_transiently,
)
