"""Record a resignation and start its process; follow the handover and its progress."""

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from db.models import Process, ProcessKind, Resignation, User
from domain import resignation as resignations
from domain.knowledge import articles_of_sessions
from forms.resignation import ResignationCreate
from inbox.api.deps import ClockDep, CurrentUser, IdempotencyKey, SessionDep
from inbox.api.schemas import ProcessStarted
from inbox.intake import start_process
from rules.resignation import load_policy

router = APIRouter(prefix="/resignations", tags=["resignations"])


class PersonPublic(BaseModel):
    id: int
    name: str
    active: bool


class HandoverProgress(BaseModel):
    total: int
    confirmed: int
    pending: int
    disputed: int
    percent: int


class HandoverItemPublic(BaseModel):
    id: int
    position: int
    category: str
    description: str
    location: str
    state: str
    dispute_reason: str | None
    resolution: str | None
    confirmed_at: datetime | None


class KnowledgeSessionPublic(BaseModel):
    id: int
    topic: str
    format: str
    scheduled_on: date
    state: str
    summary: str | None
    kb_article_ids: list[int]


class ResignationPublic(BaseModel):
    process_id: str
    subject: str
    state: str
    process_state: str
    leaver: PersonPublic
    successor: PersonPublic | None
    supervisor: PersonPublic | None
    last_working_day: date
    reason: str
    handover_starts_on: date | None
    handover_ends_on: date | None
    follow_up_days: int
    offboard_at: datetime
    offboarded_at: datetime | None
    follow_up_from: datetime | None
    progress: HandoverProgress
    items: list[HandoverItemPublic]
    sessions: list[KnowledgeSessionPublic]
    evaluation: dict[str, Any] | None


def _person(session: Session, user_id: int | None) -> PersonPublic | None:
    if user_id is None:
        return None
    user = session.get_one(User, user_id)
    return PersonPublic(id=user.id, name=user.display_name, active=user.active)


def _progress(session: Session, process_id: str) -> HandoverProgress:
    status_now = resignations.checklist_status(session, process_id)
    return HandoverProgress(
        total=status_now.total,
        confirmed=status_now.confirmed,
        pending=status_now.pending,
        disputed=len(status_now.disputed_item_ids),
        percent=status_now.percent,
    )


def resignation_public(session: Session, resignation: Resignation) -> ResignationPublic:
    """Return the API view of a resignation with its checklist, sessions and progress."""
    process = session.get_one(Process, resignation.process_id)
    articles = articles_of_sessions(session, [s.id for s in resignation.sessions])
    leaver = _person(session, resignation.leaver_id)
    assert leaver is not None
    return ResignationPublic(
        process_id=resignation.process_id,
        subject=process.subject,
        state=resignation.state,
        process_state=process.state,
        leaver=leaver,
        successor=_person(session, resignation.successor_id),
        supervisor=_person(session, resignation.supervisor_id),
        last_working_day=resignation.last_working_day,
        reason=resignation.reason,
        handover_starts_on=resignation.handover_starts_on,
        handover_ends_on=resignation.handover_ends_on,
        follow_up_days=resignation.follow_up_days or load_policy().follow_up_days,
        offboard_at=resignation.offboard_at,
        offboarded_at=resignation.offboarded_at,
        follow_up_from=resignation.follow_up_from,
        progress=_progress(session, resignation.process_id),
        items=[
            HandoverItemPublic.model_validate(item, from_attributes=True)
            for item in resignation.items
        ],
        sessions=[
            KnowledgeSessionPublic(
                id=s.id,
                topic=s.topic,
                format=s.format,
                scheduled_on=s.scheduled_on,
                state=s.state,
                summary=s.summary,
                kb_article_ids=[a.id for a in articles if a.knowledge_session_id == s.id],
            )
            for s in resignation.sessions
        ],
        evaluation=resignation.evaluation,
    )


@router.post("", response_model=ProcessStarted, status_code=status.HTTP_201_CREATED)
def create_resignation(
    intake: ResignationCreate, user: CurrentUser, clock: ClockDep, key: IdempotencyKey = None
) -> ProcessStarted:
    """Record a resignation (your own, or as HR someone else's) and start the handover."""
    return ProcessStarted.of(start_process(ProcessKind.RESIGNATION, user.id, intake, clock(), key))


@router.get("/{process_id}", response_model=ResignationPublic)
def get_resignation(process_id: str, session: SessionDep, user: CurrentUser) -> ResignationPublic:
    """Show a resignation: plan, checklist with each item's state, sessions, progress."""
    return resignation_public(session, resignations.readable_resignation(session, user, process_id))


@router.get("/{process_id}/progress", response_model=HandoverProgress)
def get_progress(process_id: str, session: SessionDep, user: CurrentUser) -> HandoverProgress:
    """Show how much of the handover checklist is confirmed, as a percentage."""
    resignations.readable_resignation(session, user, process_id)
    return _progress(session, process_id)
