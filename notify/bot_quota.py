"""Share each WeCom group bot's 20 messages a minute among every sender, through the database.

Each clock minute of each bot is a row counting the messages handed out; a sender takes one by a
conditional increment, so two senders on two machines never hand out more than the limit.
"""

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from db.idempotent import insert_ignoring_duplicates
from db.models import BotSendWindow

WINDOW = timedelta(minutes=1)
# Windows older than this are of no further use and are removed.
KEEP_WINDOWS_FOR = timedelta(hours=1)


def window_start(now: datetime) -> datetime:
    """Return the start of the clock minute containing `now`."""
    return now.replace(second=0, microsecond=0)


def _ensure_window(session: Session, bot_name: str, start: datetime) -> None:
    statement = insert_ignoring_duplicates(
        session, BotSendWindow, [BotSendWindow.bot_name, BotSendWindow.window_start]
    )
    session.execute(statement.values(bot_name=bot_name, window_start=start, sent=0))


def take_bot_slot(
    session: Session, bot_name: str, *, now: datetime, per_minute: int
) -> datetime | None:
    """Take one message of the bot's current minute; return None, or when the next minute starts."""
    start = window_start(now)
    _ensure_window(session, bot_name, start)
    taken = session.execute(
        update(BotSendWindow)
        .where(
            BotSendWindow.bot_name == bot_name,
            BotSendWindow.window_start == start,
            BotSendWindow.sent < per_minute,
        )
        .values(sent=BotSendWindow.sent + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    return None if taken == 1 else start + WINDOW


def forget_old_windows(session: Session, *, now: datetime) -> None:
    """Remove the counters of minutes long past."""
    session.execute(
        delete(BotSendWindow)
        .where(BotSendWindow.window_start < now - KEEP_WINDOWS_FOR)
        .execution_options(synchronize_session=False)
    )
