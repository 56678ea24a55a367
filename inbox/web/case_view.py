"""What a case's pages show beside its facts: whose names and sites the ids stand for, what
each step decided, said and attached, so that a later step (a reopened task) carries it all, and
a new hire's employee record (exams and points), which a dismissal decision rests on."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    Event,
    InboxTask,
    NewHire,
    Process,
    ProcessKind,
    Site,
    TaskAttachment,
    TaskComment,
)
from domain.onboarding import DEDUCTION_LABELS
from domain.people import colleagues
from domain.processes import event_actors


@dataclass
class StepRecord:
    """What was said and attached on one step of the case (its decision is in its event)."""

    comments: list[TaskComment] = field(default_factory=list)
    attachments: list[TaskAttachment] = field(default_factory=list)


def case_view(session: Session, process: Process, events: list[Event]) -> dict[str, Any]:
    """Return the names, site names and step records the case's templates read."""
    ids = list(session.scalars(select(InboxTask.id).where(InboxTask.process_id == process.id)))
    records = {task_id: StepRecord() for task_id in ids}
    for comment in session.scalars(
        select(TaskComment)
        .where(TaskComment.task_id.in_(ids))
        .order_by(TaskComment.created_at, TaskComment.id)
    ):
        records[comment.task_id].comments.append(comment)
    for attachment in session.scalars(
        select(TaskAttachment)
        .where(TaskAttachment.task_id.in_(ids))
        .order_by(TaskAttachment.created_at, TaskAttachment.id)
    ):
        records[attachment.task_id].attachments.append(attachment)
    return {
        "names": {
            **event_actors(session, events),
            **{p.id: p.display_name for p in colleagues(session, process.site_id)},
        },
        "site_names": dict(session.execute(select(Site.id, Site.name)).tuples().all()),
        "records": records,
        "hire": session.get(NewHire, process.id)
        if process.kind == ProcessKind.ONBOARDING
        else None,
        "deduction_labels": DEDUCTION_LABELS,
    }
