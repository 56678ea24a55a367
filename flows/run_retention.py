"""Run retention (scheduled housekeeping flow): keep the Prefect UI to the cases.

1. Save the UI's filters: the cases (process runs) and the housekeeping runs, each by its tag.
2. Delete the housekeeping runs (sweep, outbox sender, digest, ...) that ended before the
   retention period; a process run never carries that tag, so it is never deleted.
"""

from contextlib import suppress
from datetime import datetime, timedelta

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterTags,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound

from config import get_settings
from db.base import utcnow
from i18n import gettext_for
from tasks.run_names import HOUSEKEEPING_TAG, PROCESS_TAG

# How long a housekeeping run stays visible: long enough to look into last night's trouble.
HOUSEKEEPING_RUN_RETENTION_DAYS = 3
# Runs deleted per request to the Prefect API.
DELETE_PAGE = 200
# The UI's saved filters (English msgids, named in the default locale), each one tag.
SAVED_FILTERS = {"Cases": PROCESS_TAG, "Housekeeping runs": HOUSEKEEPING_TAG}


def retention_cutoff(now: datetime, keep_days: int) -> datetime:
    """Return the end time before which a housekeeping run is deleted."""
    return now - timedelta(days=keep_days)


@task(name="save-run-filters", retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
def save_run_filters() -> list[str]:
    """Save (or replace) the UI's filters of cases and of housekeeping runs; return their names."""
    translate = gettext_for(get_settings().default_locale)
    names = []
    with get_client(sync_client=True) as client:
        for msgid, tag in SAVED_FILTERS.items():
            name = translate(msgid)
            # The UI's own format for a saved filter (property, value) on flow runs.
            tag_filter = {"object": "flowRun", "property": "tag", "type": "", "operation": ""}
            client.request(
                "PUT",
                "/saved_searches/",
                json={"name": name, "filters": [{**tag_filter, "value": [tag]}]},
            ).raise_for_status()
            names.append(name)
    return names


@task(name="delete-old-housekeeping-runs", cache_policy=NO_CACHE)
def delete_old_housekeeping_runs(cutoff: datetime) -> int:
    """Delete the housekeeping flow runs that ended before `cutoff`; return how many."""
    old = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[HOUSEKEEPING_TAG]),
        end_time=FlowRunFilterEndTime(before_=cutoff),
    )
    deleted = 0
    with get_client(sync_client=True) as client:
        while runs := client.read_flow_runs(
            flow_run_filter=old, sort=FlowRunSort.ID_DESC, limit=DELETE_PAGE
        ):
            for run in runs:
                # Already gone (another retention run) is as good as deleted.
                with suppress(ObjectNotFound):
                    client.delete_flow_run(run.id)
            deleted += len(runs)
    return deleted


@flow(name="run-retention")
def run_retention(
    now: datetime | None = None, keep_days: int = HOUSEKEEPING_RUN_RETENTION_DAYS
) -> int:
    """Return how many old housekeeping runs were deleted, after saving the UI's filters."""
    save_run_filters()
    return delete_old_housekeeping_runs(retention_cutoff(now or utcnow(), keep_days))
