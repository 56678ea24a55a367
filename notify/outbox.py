"""Write notifications into the outbox, in the caller's transaction, at most once per dedup key.

Each person gets one row per channel they can be reached on (WeCom, email) and a notice in the
web inbox's notification centre, whatever their channels; each WeCom group bot of the site or
team that follows the event gets one row too. Quiet hours and the burst-merge hold are decided
here by setting `next_attempt_at`: a message is delayed, never dropped (the notice is there at
once: it interrupts nobody).
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import Insert, select
from sqlalchemy.orm import Session

from config import Settings, get_settings
from db.base import utcnow
from db.idempotent import insert_ignoring_duplicates
from db.models import (
    DeliveryState,
    GroupBot,
    InboxTask,
    NotificationPreference,
    OutboxMessage,
    Process,
    User,
)
from db.models import notice as centre
from notify.links import process_link_url, task_link_url
from notify.preferences import (
    UNMERGEABLE_EVENTS,
    channels_for,
    is_urgent,
    preferences_of,
    quiet_hours_for,
)
from notify.render import DEFAULT_LOCALE, NotificationChannel, render


def message_dedup_key(dedup_key: str, recipient_id: int, channel: str) -> str:
    """Return the outbox row key of one recipient and channel of the notification `dedup_key`."""
    return f"{dedup_key}:{recipient_id}:{channel}"


def bot_dedup_key(dedup_key: str, bot_name: str) -> str:
    """Return the outbox row key of one group bot's copy of the notification `dedup_key`."""
    return f"{dedup_key}:bot:{bot_name}"


# The notification centre, beside the outbox's channels: its rows go to the notice table.
IN_APP = "in_app"
NOTICE_COLUMNS = ("dedup_key", "recipient_id", "event", "process_id", "task_id", "subject", "body")


def _insert_ignoring_duplicates(session: Session, *, orm: bool = True) -> Insert:
    into = OutboxMessage if orm else OutboxMessage.__table__
    return insert_ignoring_duplicates(session, into, [OutboxMessage.dedup_key])


def _queue_notices(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write the notification centre's rows among `rows`; return the outbox's rows."""
    notices = [
        {**{column: row[column] for column in NOTICE_COLUMNS}, "created_at": row["created_at"]}
        for row in rows
        if row["channel"] == IN_APP
    ]
    if notices:
        table, key = centre.Notice.__table__, centre.Notice.dedup_key
        session.execute(insert_ignoring_duplicates(session, table, [key]), notices)
    return [row for row in rows if row["channel"] != IN_APP]


def release_time(
    now: datetime,
    user: User,
    preference: NotificationPreference | None,
    *,
    urgent: bool,
    mergeable: bool,
    settings: Settings,
) -> datetime:
    """Return when a message to `user` may first go out: now, after the merge hold, after quiet."""
    if urgent:
        return now
    hold = settings.notify_merge_window_seconds
    at = now + timedelta(seconds=hold) if mergeable and hold is not None else now
    quiet = quiet_hours_for(user, preference, settings)
    quiet_end = quiet.release_at(at) if quiet else None
    return quiet_end if quiet_end is not None else at


def group_bots_for(session: Session, event: str, site_id: int, role: str | None) -> list[GroupBot]:
    """Return the active group bots of the site (or of the team `role`) that follow `event`."""
    bots = session.scalars(
        select(GroupBot)
        .where(GroupBot.site_id == site_id, GroupBot.active.is_(True))
        .order_by(GroupBot.name)
    )
    return [bot for bot in bots if event in (bot.events or []) and bot.role in (None, role)]


def _site_and_team(
    session: Session, process_id: str | None, task_id: int | None
) -> tuple[int | None, str | None]:
    if task_id is not None:
        row = session.execute(
            select(InboxTask.site_id, InboxTask.candidate_role).where(InboxTask.id == task_id)
        ).one_or_none()
        if row is not None:
            return row[0], row[1]
    if process_id is not None:
        return session.scalar(select(Process.site_id).where(Process.id == process_id)), None
    return None, None


class Notice(TypedDict, total=False):
    """One event to tell people about: what `enqueue` and `outbox_rows` take."""

    event: Required[str]
    recipients: Required[Iterable[User]]
    context: Required[Mapping[str, Any]]
    dedup_key: Required[str]
    process_id: str | None
    task_id: int | None
    now: datetime | None
    settings: Settings | None
    link_url: str | None
    to_group_bots: bool


def enqueue(session: Session, **notice: Unpack[Notice]) -> int:
    """Render and queue `event` for every recipient, channel and group bot; return rows added.

    A row whose dedup key is already queued is left alone, so a replayed step queues nothing new.
    Does not commit: the rows belong to the caller's transaction.
    """
    return insert_outbox_rows(session, outbox_rows(session, **notice))


def enqueue_about_case(
    session: Session,
    *,
    process_id: str,
    event: str,
    key: str,
    recipient_ids: Iterable[int | None],
    context: Mapping[str, Any],
) -> int:
    """Queue `event` about a case for each of `recipient_ids` once (None: nobody holds that
    part yet); `key` tells this occurrence from others of the same event in the case."""
    recipients = [session.get_one(User, uid) for uid in dict.fromkeys(recipient_ids) if uid]
    return enqueue(
        session,
        event=event,
        recipients=recipients,
        context=context,
        dedup_key=f"{process_id}:{event}:{key}",
        process_id=process_id,
    )


def outbox_rows(
    session: Session,
    *,
    preferences: Mapping[int, NotificationPreference] | None = None,
    group_bots: Sequence[GroupBot] | None = None,
    **notice: Unpack[Notice],
) -> list[dict[str, Any]]:
    """Return the rendered outbox rows `enqueue` would queue, for `insert_outbox_rows` later
    (with each person's notification-centre notice, channel IN_APP, which it writes apart).

    `preferences` are the recipients' stored preferences when the caller has read them already
    (people without a row are absent, as from `preferences_of`). `group_bots` are the bots that
    follow `event` at the task's (or case's) site and team when the caller has looked them up,
    as `group_bots_for` returns them.
    """
    event, context, dedup_key = notice["event"], notice["context"], notice["dedup_key"]
    recipients = notice["recipients"]
    process_id, task_id = notice.get("process_id"), notice.get("task_id")
    link_url, to_group_bots = notice.get("link_url"), notice.get("to_group_bots", True)
    settings = notice.get("settings") or get_settings()
    now = notice.get("now") or utcnow()
    # A disabled account (a leaver after their last day, a dismissed hire) is told nothing more.
    by_id = {recipient.id: recipient for recipient in recipients if recipient.active}
    if preferences is None:
        preferences = preferences_of(session, by_id.values())
    urgent = is_urgent(session, event, context, task_id)
    mergeable = not urgent and event not in UNMERGEABLE_EVENTS
    if task_id is not None:
        link_url = task_link_url(task_id, now=now, settings=settings)
    # News about a whole case links to the case page, so no message leaves without a way in;
    # news of a task links to the task.
    case_url = (
        process_link_url(process_id, now=now, settings=settings)
        if process_id and task_id is None
        else None
    )
    links = {"task_url": link_url, "case_url": case_url}
    base = {
        "event": event,
        "process_id": process_id,
        "task_id": task_id,
        "link_url": link_url or case_url,
        "bot_name": None,
        "urgent": urgent,
        "state": DeliveryState.PENDING,
        "attempts": 0,
        "created_at": now,
    }
    rows = []
    for recipient in by_id.values():
        preference = preferences.get(recipient.id)
        message_context = {
            **context,
            "recipient_name": recipient.display_name,
            **links,
        }
        release = release_time(
            now, recipient, preference, urgent=urgent, mergeable=mergeable, settings=settings
        )
        for channel in [IN_APP, *channels_for(recipient, preference)]:
            # The centre shows the email's words: a subject line and the plain text.
            shown_as = NotificationChannel.EMAIL if channel == IN_APP else channel
            message = render(event, shown_as, recipient.locale, message_context)
            rows.append(
                {
                    **base,
                    "dedup_key": message_dedup_key(dedup_key, recipient.id, channel),
                    "channel": channel,
                    "recipient_id": recipient.id,
                    "subject": message.subject,
                    "body": message.body,
                    "body_html": message.body_html,
                    "next_attempt_at": release,
                }
            )
    if not to_group_bots:
        group_bots = []
    elif group_bots is None:
        site_id, team = _site_and_team(session, process_id, task_id)
        group_bots = [] if site_id is None else group_bots_for(session, event, site_id, team)
    for bot in group_bots:
        message = render(
            event,
            NotificationChannel.WECOM_BOT,
            DEFAULT_LOCALE,
            {**context, "recipient_name": bot.label, **links},
        )
        rows.append(
            {
                **base,
                "dedup_key": bot_dedup_key(dedup_key, bot.name),
                "channel": NotificationChannel.WECOM_BOT,
                "recipient_id": None,
                "bot_name": bot.name,
                "subject": message.subject,
                "body": message.body,
                "body_html": None,
                "next_attempt_at": now,
            }
        )
    return rows


def insert_outbox_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    """Queue rows from `outbox_rows`, leaving any whose dedup key is queued; return rows added."""
    rows = _queue_notices(session, rows)
    if not rows:
        return 0
    # Parameters as a list (executemany, batched by SQLAlchemy) rather than one giant VALUES
    # clause. The dialects' ON CONFLICT inserts are compiled anew on every call (SQLAlchemy
    # never caches them), so a caller with many notifications inserts them all at once.
    inserted = session.execute(
        _insert_ignoring_duplicates(session).returning(OutboxMessage.id), rows
    )
    return len(inserted.all())


def queue_outbox_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue rows from `outbox_rows` as `insert_outbox_rows` does, without counting them.

    Without RETURNING the rows go to the driver's executemany of one short, prepared statement
    on the table, not through the ORM's bulk insert nor a VALUES clause PostgreSQL's driver
    parses anew per page: for callers queuing thousands of rows at once.
    """
    rows = _queue_notices(session, rows)
    if rows:
        session.execute(_insert_ignoring_duplicates(session, orm=False), rows)
