"""Who hears what, where and when: a person's channels, quiet hours, and a message's urgency.

Quiet hours are site wall-clock times ("22:00"–"07:30" may cross midnight). A message that is not
urgent and falls inside them waits until they end; it is never dropped.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from db.models import InboxTask, NotificationPreference, User
from domain.errors import Invalid
from notify.render import NotificationChannel, NotificationEvent

logger = logging.getLogger(__name__)

# Escalations and SLA warnings must reach people at once, quiet hours or not.
URGENT_EVENTS = frozenset(
    {
        NotificationEvent.TASK_ESCALATED,
        NotificationEvent.TASK_DUE_SOON,
        NotificationEvent.TASK_OVERDUE,
    }
)
URGENT_LEVEL = "urgent"
# Summaries are already one message; they are never folded into a burst.
UNMERGEABLE_EVENTS = frozenset(
    {NotificationEvent.DAILY_DIGEST, NotificationEvent.NOTIFICATION_BURST}
)
CLOCK_FORMAT = "%H:%M"
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class QuietHours:
    """A daily stretch of site wall-clock time in which only urgent messages go out."""

    start: time
    end: time
    zone: ZoneInfo

    def release_at(self, moment: datetime) -> datetime | None:
        """Return when the quiet stretch around `moment` ends, or None if `moment` is not in one."""
        local = moment.astimezone(self.zone)
        now = local.timetz().replace(tzinfo=None)
        if self.start <= self.end:
            inside = self.start <= now < self.end
            end_day = local.date()
        else:  # crosses midnight: 22:00–07:30 is inside from 22:00 until 07:30 the next day
            inside = now >= self.start or now < self.end
            end_day = local.date() + ONE_DAY if now >= self.start else local.date()
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=self.zone)


def parse_clock(value: str) -> time:
    """Return the time of day written "HH:MM"; raise ValueError otherwise."""
    return datetime.strptime(value, CLOCK_FORMAT).time()


def quiet_hours_for(
    user: User, preference: NotificationPreference | None, settings: Settings
) -> QuietHours | None:
    """Return the person's quiet hours in their site's time zone, or None if they have none."""
    if preference is not None and not preference.quiet_hours_enabled:
        return None
    start, end = settings.quiet_hours_start, settings.quiet_hours_end
    if preference is not None and preference.quiet_start and preference.quiet_end:
        start, end = preference.quiet_start, preference.quiet_end
    if not start or not end or start == end:
        return None
    try:
        return QuietHours(parse_clock(start), parse_clock(end), ZoneInfo(user.site.timezone))
    except ValueError:
        # A bad stored value must not fail the business step that notifies; send at once.
        logger.warning("user %s has unreadable quiet hours %r–%r; ignored", user.id, start, end)
        return None


def channels_for(
    user: User, preference: NotificationPreference | None
) -> list[NotificationChannel]:
    """Return the channels on which `user` can be reached and wants to be, WeCom first."""
    channels = []
    if preference is not None and preference.wecom_userid and preference.wecom_enabled:
        channels.append(NotificationChannel.WECOM)
    if user.email and (preference is None or preference.email_enabled):
        channels.append(NotificationChannel.EMAIL)
    return channels


def preferences_of(session: Session, users: Iterable[User]) -> dict[int, NotificationPreference]:
    """Return the stored preferences of `users` by user id (people without a row are absent)."""
    ids = [user.id for user in users]
    if not ids:
        return {}
    rows = session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id.in_(ids))
    )
    return {row.user_id: row for row in rows}


def is_urgent(
    session: Session, event: str, context: Mapping[str, Any], task_id: int | None
) -> bool:
    """Return whether a message must go out at once: an escalation, a warning or an urgent case."""
    if event in URGENT_EVENTS or context.get("urgency") == URGENT_LEVEL:
        return True
    if task_id is None:
        return False
    ladder = session.scalar(select(InboxTask.sla_ladder).where(InboxTask.id == task_id))
    # Ladders are keyed "process/category/urgency" (rules/sla.py).
    return bool(ladder) and ladder.rsplit("/", 1)[-1] == URGENT_LEVEL


def preference_of(session: Session, user: User) -> NotificationPreference:
    """Return the person's stored preferences, or unsaved defaults if they have none."""
    stored = session.get(NotificationPreference, user.id)
    if stored is not None:
        return stored
    return NotificationPreference(
        user_id=user.id,
        wecom_userid=None,
        wecom_enabled=True,
        email_enabled=True,
        digest_enabled=True,
        quiet_hours_enabled=True,
        quiet_start=None,
        quiet_end=None,
    )


def update_preference(
    session: Session, user: User, changes: Mapping[str, Any], now: datetime
) -> NotificationPreference:
    """Apply `changes` to the person's own preferences and return them; refuse bad quiet hours."""
    preference = preference_of(session, user)
    for name in ("quiet_start", "quiet_end"):
        value = changes.get(name)
        if value is not None:
            try:
                parse_clock(value)
            except ValueError:
                raise Invalid.field(name, "Must be a time of day written HH:MM") from None
    for name, value in changes.items():
        setattr(preference, name, value)
    if (preference.quiet_start is None) != (preference.quiet_end is None):
        raise Invalid.field("quiet_end", "Give both the start and the end of quiet hours")
    preference.updated_at = now
    session.add(preference)
    session.flush()
    return preference
