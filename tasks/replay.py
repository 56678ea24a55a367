"""Cache policies that make a resumed flow's replay cheap and correct.

A suspended flow re-runs from the top when resumed. Writes are keyed in the database anyway;
caching them per run (and per task) spares the replay the round trips.
"""

from typing import Any

from prefect.cache_policies import INPUTS, NO_CACHE, RUN_ID, CacheKeyFnPolicy
from prefect.context import TaskRunContext


def _task_name(context: TaskRunContext, _inputs: dict[str, Any]) -> str:
    return context.task.name


# INPUTS + RUN_ID alone carries no task identity: two tasks of one run called with the same
# arguments (say, close(process_id) after notify(process_id)) would share one cached result.
# Unlike Prefect's default, no TASK_SOURCE: a deploy must not re-execute finished writes.
REPLAY_SAFE = INPUTS + RUN_ID + CacheKeyFnPolicy(cache_key_fn=_task_name)

# Reads must see the latest rows (an owner changed by a handover, a mentor chosen later):
# with results persisted, Prefect's default policy would answer a repeated read from its cache.
FRESH_READ = NO_CACHE
