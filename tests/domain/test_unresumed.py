"""Completions waiting to be handed back to their flow: each takes its turn with the sweep."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from db.models import InboxTask
from domain.inbox import complete, unresumed_tasks
from flows.catalog import STEPS
from tests.support.factories import complaint_task, person

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday


def completed(session: Session, at: datetime) -> InboxTask:
    task = complaint_task(session, at)
    return complete(
        session, person(session, "zhangmin"), task.id, {"response_note": "已联系"}, STEPS, at
    )


def waiting(session: Session, tasks: list[InboxTask], now: datetime) -> list[int]:
    ours = {task.id for task in tasks}
    return [i for i in unresumed_tasks(session, now, limit=10_000) if i in ours]


def test_a_completion_is_due_after_the_grace_and_a_retried_one_goes_to_the_back(
    session: Session,
) -> None:
    # The tests run with no grace (KEFU_RESUME_RETRY_AFTER_SECONDS=0): due from completion on.
    older, newer = completed(session, NOW - timedelta(minutes=5)), completed(session, NOW)
    later = completed(session, NOW + timedelta(minutes=1))
    tasks = [older, newer, later]
    assert waiting(session, tasks, NOW) == [older.id, newer.id]

    # The oldest was tried and is due again in ten minutes: the next one's turn comes first.
    older.resume_retry_at = NOW + timedelta(minutes=10)
    session.flush()
    assert waiting(session, tasks, NOW + timedelta(minutes=1)) == [newer.id, later.id]
    assert waiting(session, tasks, NOW + timedelta(minutes=10)) == [newer.id, later.id, older.id]

    # Handed back, it leaves the queue.
    newer.resumed_at = NOW
    session.flush()
    assert waiting(session, tasks, NOW + timedelta(minutes=10)) == [later.id, older.id]
