"""Outbox sender (scheduled housekeeping flow).

1. Mark notifications whose sender never reported back within the lease as unknown (never re-sent).
2. Claim each due notification (new, or failed and past its backoff) and send it: email through
   Apprise, WeCom person and group-bot messages through WeCom's API (errcode checked); a group bot
   past its 20 messages this minute waits for the next; a burst to one person may go out as one.
3. Record each as sent, failed (retried later with backoff), dead (out of attempts) or unknown.
"""

from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from notify.delivery import DeliveryReport, deliver_due


# No task retries: every message keeps its own attempts and backoff in the outbox, and the run
# must look at the outbox afresh every time, so nothing is cached.
@task(name="deliver-due-notifications", cache_policy=NO_CACHE)
def deliver_due_notifications(now: datetime | None) -> DeliveryReport:
    """Return the counts of one delivery pass over the outbox."""
    return deliver_due(now)


@flow(name="outbox-sender")
def outbox_sender(now: datetime | None = None) -> DeliveryReport:
    """Return how many notifications were sent, failed, went dead, or became unknown."""
    return deliver_due_notifications(now)
