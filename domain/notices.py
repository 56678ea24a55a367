"""The notification centre: a person's notices (the same news as their email and WeCom), read
or not, and what the inbox's live updates watch."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import Notice, User
from domain.errors import NotFound
from domain.inbox import TaskFilter, list_task_ids

# The bell lists this many of the latest notices.
RECENT_NOTICES = 30
# The live inbox watches at most this many open tasks of a person (mine and my role's queue).
WATCHED_TASKS = 200


@dataclass(frozen=True)
class LiveState:
    """What the open pages of a person show that can change under them."""

    unread: int
    latest_notice_id: int
    # The open tasks in my inbox and my role's queue: a new, reassigned or closed one changes it.
    open_task_ids: tuple[int, ...]


def unread_count(session: Session, user: User) -> int:
    """Return how many of the person's notices they have not read."""
    unread = select(func.count()).where(Notice.recipient_id == user.id, Notice.read_at.is_(None))
    return session.scalar(unread) or 0


def recent_notices(session: Session, user: User, limit: int = RECENT_NOTICES) -> list[Notice]:
    """Return the person's latest notices, newest first."""
    latest = (
        select(Notice).where(Notice.recipient_id == user.id).order_by(Notice.id.desc()).limit(limit)
    )
    return list(session.scalars(latest))


def open_notice(session: Session, user: User, notice_id: int, now: datetime) -> Notice:
    """Mark one of the person's notices read (once) and return it; another's is not found."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.recipient_id != user.id:
        raise NotFound("No such notice")
    if notice.read_at is None:
        notice.read_at = now
    return notice


def mark_all_read(session: Session, user: User, now: datetime) -> int:
    """Mark every unread notice of the person read; return how many."""
    return session.execute(
        update(Notice)
        .where(Notice.recipient_id == user.id, Notice.read_at.is_(None))
        .values(read_at=now)
    ).rowcount


def live_state(session: Session, user: User, now: datetime) -> LiveState:
    """Return what the person's open pages would show now of their notices and open tasks."""
    latest = select(func.max(Notice.id)).where(Notice.recipient_id == user.id)
    task_ids: set[int] = set()
    for scope in ("mine", "queue"):
        watched = TaskFilter(scope=scope, limit=WATCHED_TASKS)
        task_ids.update(list_task_ids(session, user, watched, now))
    return LiveState(
        unread=unread_count(session, user),
        latest_notice_id=session.scalar(latest) or 0,
        open_task_ids=tuple(sorted(task_ids)),
    )
