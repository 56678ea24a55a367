"""Resignations (工作交接): the notice, the handover plan and checklist, knowledge transfer, the
follow-up, and moving the leaver's open work so that no resident's case is left without an owner.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.models import (
    Complaint,
    Event,
    HandoverItem,
    InboxTask,
    KnowledgeSession,
    Process,
    ProcessKind,
    ProcessState,
    Resignation,
    Role,
    TaskState,
    User,
)
from db.models.complaint import ComplaintState
from db.models.resignation import (
    CONFIRMED_ITEM_STATES,
    ItemState,
    ResignationState,
    SessionState,
)
from domain.calendars import site_calendars
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.events import EventKind, record_event
from domain.knowledge import write_article
from domain.people import get_user, revoke_tokens, users_with_role
from forms.resignation import (
    DisputeResolutionDecision,
    FollowUpEvaluationDecision,
    HandoverPlanDecision,
    InventoryDecision,
    ItemConfirmationDecision,
    ResignationCreate,
    SessionConfirmationDecision,
    SessionHeldDecision,
)
from notify.outbox import enqueue_about_case
from rules.resignation import ResignationPolicy, offboard_at

# Who may record someone else's resignation.
RECORDING_ROLES = (Role.HR, Role.OPS_ADMIN)
# Who may supervise a handover (and be its supervising person).
SUPERVISING_ROLES = (Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER)
# A resignation still in progress blocks a second one for the same person.
OPEN_STATES = tuple(s for s in ResignationState if s != ResignationState.CLOSED)
# How many open pieces of work a notification lists by name; the rest are counted.
LISTED_WORK_MAX = 20
PERCENT = 100


@dataclass(frozen=True)
class ChecklistStatus:
    """Where the handover checklist stands."""

    total: int
    confirmed: int
    pending: int
    disputed_item_ids: tuple[int, ...]

    @property
    def percent(self) -> int:
        """Return the share of items confirmed, in whole percent (0 before the inventory)."""
        return self.confirmed * PERCENT // self.total if self.total else 0

    @property
    def complete(self) -> bool:
        """Return whether every item is confirmed."""
        return self.total > 0 and self.confirmed == self.total


@dataclass(frozen=True)
class MovedWork:
    """What was moved from the leaver: open task ids and complaint (process) ids."""

    task_ids: tuple[int, ...]
    complaint_ids: tuple[str, ...]
    to_user_id: int | None


# --- recording ---------------------------------------------------------------------------------


def record_resignation(
    session: Session,
    actor: User,
    intake: ResignationCreate,
    policy: ResignationPolicy,
    now: datetime,
) -> Process:
    """Record a resignation notice, by the leaver themselves or by HR; return its process."""
    leaver = actor if intake.leaver_id in (None, actor.id) else session.get(User, intake.leaver_id)
    if leaver is not actor:
        if not actor.has_role(*RECORDING_ROLES):
            raise Forbidden("Only HR can record someone else's resignation")
        if leaver is None or not leaver.active:
            raise Invalid.field("leaver_id", "No active user with this id")
        if leaver.site_id != actor.site_id and not actor.has_role(Role.OPS_ADMIN):
            raise Invalid.field("leaver_id", "This person works at another site")
    calendar = site_calendars(session, leaver.site_id)[policy.calendar]
    if intake.last_working_day < now.astimezone(calendar.zone).date():
        raise Invalid.field("last_working_day", "The last working day cannot be in the past")
    if session.scalar(
        select(Resignation.process_id).where(
            Resignation.leaver_id == leaver.id, Resignation.state.in_(OPEN_STATES)
        )
    ):
        raise Conflict("{name} already has a resignation in progress", name=leaver.display_name)
    process = Process(
        kind=ProcessKind.RESIGNATION,
        site_id=leaver.site_id,
        subject=f"{leaver.display_name} {intake.last_working_day.isoformat()}",
        state=ProcessState.STARTING,
        started_by_id=actor.id,
        started_at=now,
    )
    session.add(process)
    session.flush()
    resignation = Resignation(
        process_id=process.id,
        leaver_id=leaver.id,
        recorded_by_id=actor.id,
        last_working_day=intake.last_working_day,
        reason=intake.reason,
        offboard_at=offboard_at(calendar, intake.last_working_day),
    )
    session.add(resignation)
    session.flush()
    record_event(
        session,
        process_id=process.id,
        kind=EventKind.RESIGNATION_RECORDED,
        at=now,
        actor_id=actor.id,
        data={
            "leaver_id": leaver.id,
            "leaver_name": leaver.display_name,
            **intake.model_dump(mode="json"),
        },
    )
    recipients = [leaver.id, *_supervisors(session, leaver.site_id), *_hr(session, leaver.site_id)]
    _tell(
        session,
        resignation,
        "resignation_recorded",
        "recorded",
        recipients,
        {
            "recorded_by": actor.display_name,
            "last_working_day": intake.last_working_day.isoformat(),
        },
    )
    return process


def get_resignation(session: Session, process_id: str) -> Resignation:
    """Return the resignation of a process, or raise NotFound."""
    resignation = session.get(Resignation, process_id)
    if resignation is None:
        raise NotFound("Resignation {process_id} does not exist", process_id=process_id)
    return resignation


def readable_resignation(session: Session, user: User, process_id: str) -> Resignation:
    """Return the resignation if `user` takes part in it, oversees it or is HR at its site."""
    resignation = get_resignation(session, process_id)
    site_id = resignation_site(session, resignation)
    involved = user.id in (
        resignation.leaver_id,
        resignation.recorded_by_id,
        resignation.successor_id,
        resignation.supervisor_id,
    )
    at_site = user.site_id == site_id and (user.manages or user.has_role(Role.HR))
    if not (involved or at_site or user.has_role(Role.OPS_ADMIN)):
        raise NotFound("Resignation {process_id} does not exist", process_id=process_id)
    return resignation


def resignation_site(session: Session, resignation: Resignation) -> int:
    """Return the site the resignation belongs to."""
    return session.scalars(
        select(Process.site_id).where(Process.id == resignation.process_id)
    ).one()


def approver_role(session: Session, resignation: Resignation) -> Role:
    """Return the role that approves the handover plan; nobody approves their own."""
    leaver = get_user(session, resignation.leaver_id)
    return Role.SITE_MANAGER if leaver.has_role(Role.SUPERVISOR) else Role.SUPERVISOR


# --- the handover plan -------------------------------------------------------------------------


def plan_problems(session: Session, process_id: str, plan: HandoverPlanDecision) -> list[str]:
    """Return what is wrong with a handover plan (English msgids); empty when it can be approved."""
    resignation = get_resignation(session, process_id)
    site_id = resignation_site(session, resignation)
    problems = []
    successor = session.get(User, plan.successor_id)
    if successor is None or not successor.active or successor.site_id != site_id:
        problems.append("The successor must be an active colleague at this site")
    elif successor.id == resignation.leaver_id:
        problems.append("The successor cannot be the leaver")
    supervisor = session.get(User, plan.supervisor_id)
    if supervisor is None or not supervisor.active or supervisor.site_id != site_id:
        problems.append("The supervising person must be an active colleague at this site")
    elif supervisor.id == resignation.leaver_id:
        problems.append("The supervising person cannot be the leaver")
    elif not supervisor.has_role(*SUPERVISING_ROLES):
        problems.append("The supervising person must be a shift lead, supervisor or site manager")
    if plan.handover_ends_on > resignation.last_working_day:
        problems.append("The handover must end by the last working day")
    return problems


def approve_plan(
    session: Session, process_id: str, plan: HandoverPlanDecision, key: str, now: datetime
) -> bool:
    """Record the approved handover plan once; return whether this call recorded it."""
    resignation = get_resignation(session, process_id)
    approver_id = completed_by(session, process_id, key)
    event = record_event(
        session,
        process_id=process_id,
        kind=EventKind.HANDOVER_PLAN_APPROVED,
        at=now,
        actor_id=approver_id,
        data=plan.model_dump(mode="json"),
        dedup_key=f"{process_id}:plan-approved",
    )
    if event is None:
        return False
    resignation.successor_id = plan.successor_id
    resignation.supervisor_id = plan.supervisor_id
    resignation.approved_by_id = approver_id
    resignation.handover_starts_on = plan.handover_starts_on
    resignation.handover_ends_on = plan.handover_ends_on
    resignation.follow_up_days = plan.follow_up_days
    resignation.state = ResignationState.PLAN_APPROVED
    successor = get_user(session, plan.successor_id)
    supervisor = get_user(session, plan.supervisor_id)
    _tell(
        session,
        resignation,
        "handover_plan_approved",
        "plan-approved",
        _everyone(session, resignation),
        {
            "successor_name": successor.display_name,
            "supervisor_name": supervisor.display_name,
            "handover_starts_on": plan.handover_starts_on.isoformat(),
            "handover_ends_on": plan.handover_ends_on.isoformat(),
            "last_working_day": resignation.last_working_day.isoformat(),
        },
    )
    return True


def completed_by(session: Session, process_id: str, step_key: str) -> int | None:
    """Return who completed the process's task with `step_key`."""
    return session.scalar(
        select(InboxTask.completed_by_id).where(
            InboxTask.process_id == process_id, InboxTask.step_key == step_key
        )
    )


# --- moving the leaver's work ------------------------------------------------------------------


def hand_work_to_successor(session: Session, process_id: str, now: datetime) -> MovedWork:
    """Move the leaver's open tasks and owned complaints to the successor (plan approved)."""
    resignation = get_resignation(session, process_id)
    if resignation.successor_id is None:
        raise Conflict("The handover plan is not approved yet")
    return _move_work(
        session,
        resignation,
        to_user_id=resignation.successor_id,
        phase="handover",
        reason="Handed over: the owner is leaving",
        include_own_process=False,
        now=now,
    )


def _move_work(
    session: Session,
    resignation: Resignation,
    *,
    to_user_id: int,
    phase: str,
    reason: str,
    include_own_process: bool,
    now: datetime,
) -> MovedWork:
    """Re-home every open piece of the leaver's work to `to_user_id`; each change is an event."""
    leaver = get_user(session, resignation.leaver_id)
    target = get_user(session, to_user_id)
    people = {
        "from_user_id": leaver.id,
        "from_name": leaver.display_name,
        "to_user_id": target.id,
        "to_name": target.display_name,
        "reason": reason,
        "resignation_id": resignation.process_id,
    }
    complaint_ids = []
    for complaint in session.scalars(
        select(Complaint)
        .where(
            Complaint.owner_of_record_id == leaver.id,
            Complaint.state != ComplaintState.CLOSED,
        )
        .order_by(Complaint.received_at)
    ):
        moved = session.execute(
            update(Complaint)
            .where(
                Complaint.process_id == complaint.process_id,
                Complaint.owner_of_record_id == leaver.id,
            )
            .values(owner_of_record_id=target.id)
        ).rowcount
        if moved:
            # The event keeps the leaver's name: the owner-of-record history of the case.
            record_event(
                session,
                process_id=complaint.process_id,
                kind=EventKind.OWNER_OF_RECORD_CHANGED,
                at=now,
                data=people,
                dedup_key=f"{resignation.process_id}:{phase}:complaint:{complaint.process_id}",
            )
            complaint_ids.append(complaint.process_id)
    held = select(InboxTask).where(
        InboxTask.state == TaskState.OPEN,
        or_(InboxTask.assignee_id == leaver.id, InboxTask.owner_of_record_id == leaver.id),
    )
    if not include_own_process:
        held = held.where(InboxTask.process_id != resignation.process_id)
    task_ids = []
    for task in session.scalars(held.order_by(InboxTask.id)):
        changed = {}
        if task.assignee_id == leaver.id:
            changed["assignee_id"] = target.id
        if task.owner_of_record_id == leaver.id:
            changed["owner_of_record_id"] = target.id
        moved = session.execute(
            update(InboxTask)
            .where(
                InboxTask.id == task.id,
                InboxTask.state == TaskState.OPEN,
                InboxTask.assignee_id == task.assignee_id
                if task.assignee_id is not None
                else InboxTask.assignee_id.is_(None),
            )
            .values(**changed)
        ).rowcount
        if moved:
            record_event(
                session,
                process_id=task.process_id,
                task_id=task.id,
                kind=EventKind.TASK_REASSIGNED,
                at=now,
                data={**people, "fields": sorted(changed)},
                dedup_key=f"{resignation.process_id}:{phase}:task:{task.id}",
            )
            task_ids.append(task.id)
    result = MovedWork(tuple(task_ids), tuple(complaint_ids), target.id)
    if task_ids or complaint_ids:
        _tell_moved(session, resignation, result, phase, target)
    return result


def _tell_moved(
    session: Session, resignation: Resignation, moved: MovedWork, phase: str, target: User
) -> None:
    subjects = dict(
        session.execute(
            select(Process.id, Process.subject).where(
                Process.id.in_(
                    [
                        *moved.complaint_ids,
                        *session.scalars(
                            select(InboxTask.process_id).where(InboxTask.id.in_(moved.task_ids))
                        ),
                    ]
                )
            )
        ).all()
    )
    work = sorted(set(subjects.values()))
    first = moved.task_ids[0] if moved.task_ids else moved.complaint_ids[0]
    _tell(
        session,
        resignation,
        "handover_work_moved",
        f"{phase}:{first}",
        [target.id, resignation.leaver_id, *_watchers(session, resignation)],
        {
            "to_name": target.display_name,
            "task_count": len(moved.task_ids),
            "complaint_count": len(moved.complaint_ids),
            "work": work[:LISTED_WORK_MAX],
            "more_count": max(len(work) - LISTED_WORK_MAX, 0),
        },
    )


# --- the checklist -----------------------------------------------------------------------------


def record_inventory(
    session: Session, process_id: str, inventory: InventoryDecision, now: datetime
) -> tuple[list[int], list[int]]:
    """Turn the leaver's inventory into the checklist and the sessions, once; return their ids."""
    resignation = get_resignation(session, process_id)
    if resignation.items:
        return [i.id for i in resignation.items], [s.id for s in resignation.sessions]
    for position, draft in enumerate(inventory.items, start=1):
        session.add(HandoverItem(process_id=process_id, position=position, **draft.model_dump()))
    for position, planned in enumerate(inventory.sessions, start=1):
        session.add(
            KnowledgeSession(process_id=process_id, position=position, **planned.model_dump())
        )
    resignation.state = ResignationState.INVENTORIED
    session.flush()
    session.refresh(resignation)
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.HANDOVER_CHECKLIST_CREATED,
        at=now,
        actor_id=completed_by(session, process_id, "inventory"),
        data={"items": len(inventory.items), "sessions": len(inventory.sessions)},
        dedup_key=f"{process_id}:inventory",
    )
    _tell(
        session,
        resignation,
        "handover_checklist_ready",
        "inventory",
        _everyone(session, resignation),
        {"item_count": len(inventory.items), "session_count": len(inventory.sessions)},
    )
    return [i.id for i in resignation.items], [s.id for s in resignation.sessions]


def checklist_status(session: Session, process_id: str) -> ChecklistStatus:
    """Return how far the handover checklist is confirmed."""
    items = list(session.scalars(select(HandoverItem).where(HandoverItem.process_id == process_id)))
    return ChecklistStatus(
        total=len(items),
        confirmed=sum(i.state in CONFIRMED_ITEM_STATES for i in items),
        pending=sum(i.state == ItemState.PENDING for i in items),
        disputed_item_ids=tuple(i.id for i in items if i.state == ItemState.DISPUTED),
    )


def items_in_state(session: Session, process_id: str, state: ItemState) -> list[HandoverItem]:
    """Return the checklist items in `state`, in checklist order."""
    return list(
        session.scalars(
            select(HandoverItem)
            .where(HandoverItem.process_id == process_id, HandoverItem.state == state)
            .order_by(HandoverItem.position)
        )
    )


def record_verdicts(
    session: Session,
    process_id: str,
    decision: ItemConfirmationDecision,
    key: str,
    now: datetime,
) -> ChecklistStatus:
    """Apply the successor's verdicts to pending items; others are left as they are."""
    resignation = get_resignation(session, process_id)
    actor_id = completed_by(session, process_id, key)
    pending = {i.id: i for i in items_in_state(session, process_id, ItemState.PENDING)}
    disputed = []
    for verdict in decision.verdicts:
        item = pending.get(verdict.item_id)
        if item is None:
            continue  # not on this checklist, or already decided: a stale or replayed verdict
        accepted = verdict.verdict == "accept"
        item.state = ItemState.ACCEPTED if accepted else ItemState.DISPUTED
        if accepted:
            item.confirmed_by_id, item.confirmed_at = actor_id, now
        else:
            item.dispute_reason = verdict.reason
            disputed.append(item)
        record_event(
            session,
            process_id=process_id,
            kind=EventKind.HANDOVER_ITEM_ACCEPTED if accepted else EventKind.HANDOVER_ITEM_DISPUTED,
            at=now,
            actor_id=actor_id,
            data={"item_id": item.id, "description": item.description, "reason": verdict.reason},
            dedup_key=f"{process_id}:{key}:item:{item.id}",
        )
    session.flush()
    status = checklist_status(session, process_id)
    if disputed:
        _tell(
            session,
            resignation,
            "handover_items_disputed",
            key,
            [resignation.leaver_id, *_watchers(session, resignation)],
            {
                "items": [f"{i.description}: {i.dispute_reason}" for i in disputed],
                "percent": status.percent,
            },
        )
    return status


def record_resolutions(
    session: Session,
    process_id: str,
    decision: DisputeResolutionDecision,
    key: str,
    now: datetime,
) -> ChecklistStatus:
    """Apply the supervisor's decisions to disputed items; others stay disputed."""
    actor_id = completed_by(session, process_id, key)
    disputed = {i.id: i for i in items_in_state(session, process_id, ItemState.DISPUTED)}
    for decided in decision.resolutions:
        item = disputed.get(decided.item_id)
        if item is None:
            continue
        item.resolution = decided.resolution
        if decided.outcome == "resolved":
            item.state = ItemState.RESOLVED
            item.confirmed_by_id, item.confirmed_at = actor_id, now
        else:
            item.state = ItemState.PENDING
        record_event(
            session,
            process_id=process_id,
            kind=EventKind.HANDOVER_DISPUTE_RESOLVED,
            at=now,
            actor_id=actor_id,
            data={"item_id": item.id, "outcome": decided.outcome, "resolution": decided.resolution},
            dedup_key=f"{process_id}:{key}:item:{item.id}",
        )
    session.flush()
    return checklist_status(session, process_id)


def close_handover(session: Session, process_id: str, now: datetime) -> None:
    """Close the handover; refused while any item is unconfirmed or disputed."""
    resignation = get_resignation(session, process_id)
    if resignation.handed_over_at is not None:
        return
    status = checklist_status(session, process_id)
    if not status.complete:
        raise Conflict(
            "The handover cannot close: {open} of {total} items are unconfirmed or disputed",
            open=status.total - status.confirmed,
            total=status.total,
        )
    resignation.state = ResignationState.HANDED_OVER
    resignation.handed_over_at = now
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.HANDOVER_CLOSED,
        at=now,
        data={"items": status.total},
        dedup_key=f"{process_id}:handover-closed",
    )
    _tell(
        session,
        resignation,
        "handover_completed",
        "handover-closed",
        _everyone(session, resignation),
        {"item_count": status.total},
    )


# --- knowledge transfer ------------------------------------------------------------------------


def get_session(session: Session, process_id: str, knowledge_session_id: int) -> KnowledgeSession:
    """Return one knowledge-transfer session of the resignation, or raise NotFound."""
    found = session.get(KnowledgeSession, knowledge_session_id)
    if found is None or found.process_id != process_id:
        raise NotFound("Session {id} does not exist", id=knowledge_session_id)
    return found


def record_session_held(
    session: Session,
    process_id: str,
    knowledge_session_id: int,
    held: SessionHeldDecision,
    key: str,
    now: datetime,
) -> list[int]:
    """Record that a session took place and file its KB articles, once; return the article ids."""
    resignation = get_resignation(session, process_id)
    knowledge_session = get_session(session, process_id, knowledge_session_id)
    author = get_user(session, completed_by(session, process_id, key) or resignation.leaver_id)
    event = record_event(
        session,
        process_id=process_id,
        kind=EventKind.KNOWLEDGE_SESSION_HELD,
        at=now,
        actor_id=author.id,
        data={"session_id": knowledge_session_id, "summary": held.summary},
        dedup_key=f"{process_id}:{key}",
    )
    if event is None:
        return list(event_articles(session, process_id, key))
    knowledge_session.state = SessionState.HELD
    knowledge_session.summary = held.summary
    knowledge_session.held_at = now
    article_ids = [
        write_article(session, author, draft, now, knowledge_session_id).id
        for draft in held.kb_articles
    ]
    event.data = {**event.data, "kb_article_ids": article_ids}
    return article_ids


def event_articles(session: Session, process_id: str, key: str) -> list[int]:
    """Return the KB article ids recorded by the session-held event with `key`."""
    data = session.scalar(select(Event.data).where(Event.dedup_key == f"{process_id}:{key}"))
    return list((data or {}).get("kb_article_ids", []))


def record_session_confirmation(
    session: Session,
    process_id: str,
    knowledge_session_id: int,
    confirmation: SessionConfirmationDecision,
    key: str,
    now: datetime,
) -> bool:
    """Record the successor's confirmation (or request to repeat); return whether confirmed."""
    resignation = get_resignation(session, process_id)
    knowledge_session = get_session(session, process_id, knowledge_session_id)
    confirmed = confirmation.outcome == "confirmed"
    event = record_event(
        session,
        process_id=process_id,
        kind=(
            EventKind.KNOWLEDGE_SESSION_CONFIRMED
            if confirmed
            else EventKind.KNOWLEDGE_SESSION_REPEAT
        ),
        at=now,
        actor_id=completed_by(session, process_id, key),
        data={"session_id": knowledge_session_id, "comment": confirmation.comment},
        dedup_key=f"{process_id}:{key}",
    )
    if event is None:
        return confirmed
    knowledge_session.state = SessionState.CONFIRMED if confirmed else SessionState.SCHEDULED
    knowledge_session.confirmed_at = now if confirmed else None
    if confirmed:
        _tell(
            session,
            resignation,
            "knowledge_session_confirmed",
            key,
            [resignation.leaver_id, *_watchers(session, resignation)],
            {"topic": knowledge_session.topic, "format": knowledge_session.format},
        )
    return confirmed


def finish_transfer(
    session: Session, process_id: str, follow_up_from: datetime, now: datetime
) -> None:
    """Mark the knowledge transfer complete and the follow-up scheduled."""
    resignation = get_resignation(session, process_id)
    open_sessions = [s for s in resignation.sessions if s.state != SessionState.CONFIRMED]
    if open_sessions:
        raise Conflict("Every knowledge-transfer session must be confirmed first")
    if resignation.follow_up_from is not None:
        return
    resignation.state = ResignationState.TRANSFERRED
    resignation.follow_up_from = follow_up_from
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.KNOWLEDGE_TRANSFER_COMPLETED,
        at=now,
        data={"follow_up_from": follow_up_from.isoformat()},
        dedup_key=f"{process_id}:transfer-completed",
    )
    _tell(
        session,
        resignation,
        "knowledge_transfer_completed",
        "transfer-completed",
        _everyone(session, resignation),
        {"session_count": len(resignation.sessions), "follow_up_from": follow_up_from},
    )


# --- closing -----------------------------------------------------------------------------------


def close_resignation(
    session: Session, process_id: str, evaluation: FollowUpEvaluationDecision, now: datetime
) -> None:
    """Store the follow-up evaluation and close the process; the handover must be closed."""
    resignation = get_resignation(session, process_id)
    if resignation.state == ResignationState.CLOSED:
        return
    if resignation.handed_over_at is None:
        raise Conflict("The handover is not closed yet")
    result = evaluation.model_dump(mode="json")
    resignation.evaluation = result
    resignation.state = ResignationState.CLOSED
    process = session.get_one(Process, process_id)
    process.state = ProcessState.CLOSED
    process.closed_at = now
    process.current_step = None
    record_event(
        session,
        process_id=process_id,
        kind=EventKind.RESIGNATION_CLOSED,
        at=now,
        actor_id=completed_by(session, process_id, "follow-up-evaluation"),
        data=result,
        dedup_key=f"{process_id}:closed",
    )
    _tell(
        session,
        resignation,
        "resignation_closed",
        "closed",
        _everyone(session, resignation),
        {
            "handover_effect": evaluation.handover_effect,
            "successor_assessment": evaluation.successor_assessment,
        },
    )


def rehome_late_work(session: Session, now: datetime) -> int:
    """Move work that reached a leaver after their handover was approved; return how many.

    For the minute sweep, beside offboard_due_leavers: a process that routes by a stale owner
    (or a manager's reassignment) can still hand a leaver new work before their last day.
    """
    handed_over = session.scalars(
        select(Resignation).where(
            Resignation.successor_id.is_not(None),
            Resignation.offboarded_at.is_(None),
            Resignation.state != ResignationState.CLOSED,
        )
    )
    moved = 0
    for resignation in handed_over:
        assert resignation.successor_id is not None
        work = _move_work(
            session,
            resignation,
            to_user_id=resignation.successor_id,
            phase="late",
            reason="Handed over: the owner is leaving",
            include_own_process=False,
            now=now,
        )
        moved += len(work.task_ids) + len(work.complaint_ids)
    return moved


# --- after the last working day ----------------------------------------------------------------


def offboard_due_leavers(session: Session, now: datetime, limit: int = 100) -> list[str]:
    """Disable the accounts of leavers whose last working day has ended; return the processes.

    For the minute sweep: one indexed query when nobody is due. Work still held by a leaver
    moves to the successor (or, before a plan exists, to a supervisor at the site), and the
    leaver's own handover tasks to the supervising person.
    """
    due = list(
        session.scalars(
            select(Resignation)
            .where(Resignation.offboarded_at.is_(None), Resignation.offboard_at <= now)
            .order_by(Resignation.offboard_at)
            .limit(limit)
        )
    )
    for resignation in due:
        offboard(session, resignation, now)
    return [r.process_id for r in due]


def offboard(session: Session, resignation: Resignation, now: datetime) -> None:
    """Disable the leaver's account, revoke their tokens and escalate the work they still hold."""
    leaver = get_user(session, resignation.leaver_id)
    site_id = resignation_site(session, resignation)
    fallback = next(iter(_supervisors(session, site_id)), None)
    successor = _active(session, resignation.successor_id)
    supervisor = _active(session, resignation.supervisor_id) or fallback
    leaver.active = False
    revoke_tokens(session, leaver)
    resignation.offboarded_at = now
    session.flush()
    escalated: list[MovedWork] = []
    # The leaver's own handover tasks (a session not yet held) go to the supervising person:
    # the successor cannot report on their own training.
    own_target = supervisor or successor
    if own_target is not None:
        escalated.append(_move_own_tasks(session, resignation, leaver, own_target, now))
    other_target = successor or supervisor
    if other_target is not None:
        escalated.append(
            _move_work(
                session,
                resignation,
                to_user_id=other_target,
                phase="offboard",
                reason="Escalated: the holder's account is closed",
                include_own_process=False,
                now=now,
            )
        )
    task_count = sum(len(m.task_ids) for m in escalated)
    complaint_count = sum(len(m.complaint_ids) for m in escalated)
    record_event(
        session,
        process_id=resignation.process_id,
        kind=EventKind.LEAVER_OFFBOARDED,
        at=now,
        data={
            "leaver_id": leaver.id,
            "leaver_name": leaver.display_name,
            "escalated_task_ids": [t for m in escalated for t in m.task_ids],
            "escalated_complaint_ids": [c for m in escalated for c in m.complaint_ids],
        },
        dedup_key=f"{resignation.process_id}:offboarded",
    )
    recipients = [
        *(u for u in (resignation.successor_id, resignation.supervisor_id) if u),
        *([] if resignation.supervisor_id else _supervisors(session, site_id)),
        *_hr(session, site_id),
    ]
    _tell(
        session,
        resignation,
        "leaver_offboarded",
        "offboarded",
        recipients,
        {"task_count": task_count, "complaint_count": complaint_count},
    )


def _move_own_tasks(
    session: Session, resignation: Resignation, leaver: User, target: int, now: datetime
) -> MovedWork:
    own = list(
        session.scalars(
            select(InboxTask).where(
                InboxTask.process_id == resignation.process_id,
                InboxTask.state == TaskState.OPEN,
                InboxTask.assignee_id == leaver.id,
            )
        )
    )
    moved = []
    for task in own:
        if session.execute(
            update(InboxTask)
            .where(
                InboxTask.id == task.id,
                InboxTask.state == TaskState.OPEN,
                InboxTask.assignee_id == leaver.id,
            )
            .values(assignee_id=target)
        ).rowcount:
            record_event(
                session,
                process_id=task.process_id,
                task_id=task.id,
                kind=EventKind.TASK_REASSIGNED,
                at=now,
                data={
                    "from_user_id": leaver.id,
                    "from_name": leaver.display_name,
                    "to_user_id": target,
                    "reason": "Escalated: the holder's account is closed",
                    "fields": ["assignee_id"],
                },
                dedup_key=f"{resignation.process_id}:offboard:own-task:{task.id}",
            )
            moved.append(task.id)
    return MovedWork(tuple(moved), (), target)


# --- people and notifications ------------------------------------------------------------------


def _active(session: Session, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user.id if user is not None and user.active else None


def _supervisors(session: Session, site_id: int) -> list[int]:
    return [u.id for u in users_with_role(session, site_id, Role.SUPERVISOR)]


def _hr(session: Session, site_id: int) -> list[int]:
    return [u.id for u in users_with_role(session, site_id, Role.HR)]


def _watchers(session: Session, resignation: Resignation) -> list[int]:
    """Return the supervising person (or the site's supervisors before a plan) and HR."""
    site_id = resignation_site(session, resignation)
    supervisors = (
        [resignation.supervisor_id] if resignation.supervisor_id else _supervisors(session, site_id)
    )
    return [*supervisors, *_hr(session, site_id)]


def _everyone(session: Session, resignation: Resignation) -> list[int]:
    """Return the leaver, the successor, the supervising person and HR."""
    people = [resignation.leaver_id, resignation.successor_id, *_watchers(session, resignation)]
    return [p for p in people if p is not None]


def _tell(
    session: Session,
    resignation: Resignation,
    event: str,
    key: str,
    recipient_ids: Iterable[int],
    details: dict[str, Any],
) -> None:
    process = session.get_one(Process, resignation.process_id)
    leaver = get_user(session, resignation.leaver_id)
    enqueue_about_case(
        session,
        process_id=resignation.process_id,
        event=event,
        key=key,
        recipient_ids=recipient_ids,
        context={"process_subject": process.subject, "leaver_name": leaver.display_name, **details},
    )
