"""Daily digest (scheduled housekeeping flow, every quarter hour).

1. Load the working calendars; a site whose day is a rest day, or whose local time is not yet
   its digest time (08:30) or past the catch-up window, gets no digest on this run.
2. Queue one summary per person (open, due today, overdue), with the team's for shift leads and up.
The outbox sender delivers them on each person's channels; a re-run the same day queues nothing.
"""

from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from config import get_settings
from db.base import utcnow
from db.session import transaction
from domain.calendars import calendar_book
from flows.catalog import STEP_TITLES
from notify.digest import DigestReport, queue_daily_digests


# Reads the outbox and tasks afresh each run; the outbox keys make a repeat harmless.
@task(name="queue-daily-digests", cache_policy=NO_CACHE)
def queue_digests(now: datetime) -> DigestReport:
    """Return what was queued for which sites, and which sites were skipped and why."""
    with transaction() as session:
        return queue_daily_digests(
            session,
            now=now,
            settings=get_settings(),
            calendars=calendar_book(),
            step_titles=STEP_TITLES,
        )


@flow(name="daily-digest")
def daily_digest(now: datetime | None = None) -> DigestReport:
    """Return how many digests were queued; rest days and early runs queue none."""
    return queue_digests(now or utcnow())
