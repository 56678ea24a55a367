"""Comments on a task: notes everyone who may see the task reads in its history."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import TaskComment, User
from domain.errors import Invalid
from domain.events import EventKind, record_event
from domain.task_access import get_task

# The column's width; a longer note belongs in an attachment.
MAX_COMMENT_CHARS = 2000


def add_comment(
    session: Session, user: User, task_id: int, body: str, now: datetime
) -> TaskComment:
    """Add `user`'s comment to a task they may see; return the comment."""
    task = get_task(session, user, task_id)
    text = body.strip()
    if not text:
        raise Invalid.field("body", "Write a comment first")
    if len(text) > MAX_COMMENT_CHARS:
        raise Invalid.field(
            "body", "A comment can be at most {max_chars} characters", max_chars=MAX_COMMENT_CHARS
        )
    comment = TaskComment(task_id=task.id, author_id=user.id, body=text, created_at=now)
    session.add(comment)
    session.flush()
    record_event(
        session,
        process_id=task.process_id,
        task_id=task.id,
        kind=EventKind.TASK_COMMENTED,
        at=now,
        actor_id=user.id,
        data={"comment_id": comment.id},
    )
    return comment


def comments_for(session: Session, task_id: int) -> list[TaskComment]:
    """Return a task's comments, oldest first; the caller has already checked who may see it."""
    return list(
        session.scalars(
            select(TaskComment)
            .where(TaskComment.task_id == task_id)
            .order_by(TaskComment.created_at, TaskComment.id)
        )
    )
