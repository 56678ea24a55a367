"""Prefect tasks of the resignation process; each write is replay-safe, in its own transaction.

The flow decides its path from what these tasks returned (cached per run), never from a fresh
read, so a replay after a resume walks the same path as the first run.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prefect import task

from db.base import utcnow
from db.models import HandoverItem, Process, User
from db.models.resignation import ItemState
from db.session import reading, transaction
from domain import resignation as resignations
from domain.calendars import process_calendar
from domain.resignation import ChecklistStatus, MovedWork
from forms.resignation import (
    DisputeResolutionDecision,
    FollowUpEvaluationDecision,
    HandoverPlanDecision,
    InventoryDecision,
    ItemConfirmationDecision,
    SessionConfirmationDecision,
    SessionHeldDecision,
)
from rules.resignation import (
    due_after,
    follow_up_opens_at,
    load_policy,
)
from tasks.replay import FRESH_READ, REPLAY_SAFE
from tasks.retries import ON_TRANSIENT_DB_ERROR


@dataclass(frozen=True)
class ResignationCase:
    """What the flow needs to route a resignation's steps, read fresh."""

    process_id: str
    site_id: int
    subject: str
    leaver_id: int
    leaver_name: str
    leaver_active: bool
    last_working_day: date
    approver_role: str
    successor_id: int | None
    supervisor_id: int | None
    # Due times of the steps opened now, by policy key (e.g. "inventory_working_days").
    due: dict[str, datetime]

    @property
    def leaver_or_supervisor(self) -> int:
        """Return who does the leaver's part: the leaver, or after their last day the supervisor."""
        if self.leaver_active or self.supervisor_id is None:
            return self.leaver_id
        return self.supervisor_id


@dataclass(frozen=True)
class SessionBrief:
    """A knowledge-transfer session as its tasks show it."""

    id: int
    topic: str
    format: str
    scheduled_on: date
    due_at: datetime


DUE_KEYS = (
    "approval_working_days",
    "inventory_working_days",
    "confirmation_working_days",
    "dispute_working_days",
)


@task(name="load-resignation", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def load_resignation(process_id: str) -> ResignationCase:
    """Return the routing facts of a resignation, read fresh (people may have changed)."""
    policy = load_policy()
    now = utcnow()
    with reading() as session:
        calendar = process_calendar(session, process_id, policy.calendar)
        resignation = resignations.get_resignation(session, process_id)
        leaver = session.get_one(User, resignation.leaver_id)
        return ResignationCase(
            process_id=process_id,
            site_id=resignations.resignation_site(session, resignation),
            subject=session.get_one(Process, process_id).subject,
            leaver_id=leaver.id,
            leaver_name=leaver.display_name,
            leaver_active=leaver.active,
            last_working_day=resignation.last_working_day,
            approver_role=resignations.approver_role(session, resignation),
            successor_id=resignation.successor_id,
            supervisor_id=resignation.supervisor_id,
            due={key: due_after(calendar, now, getattr(policy, key)) for key in DUE_KEYS},
        )


@task(
    name="check-handover-plan",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def check_plan(process_id: str, plan: HandoverPlanDecision, key: str) -> list[str]:
    """Return what is wrong with the plan decided at step `key` (empty: it can be approved)."""
    with transaction() as session:
        return resignations.plan_problems(session, process_id, plan)


@task(name="approve-handover-plan", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def approve_plan(process_id: str, plan: HandoverPlanDecision, key: str) -> None:
    """Record the approved plan and tell everyone involved."""
    with transaction() as session:
        resignations.approve_plan(session, process_id, plan, key, utcnow())


@task(
    name="hand-work-to-successor",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def hand_work_to_successor(process_id: str) -> MovedWork:
    """Move the leaver's open tasks and owned complaints to the successor."""
    with transaction() as session:
        return resignations.hand_work_to_successor(session, process_id, utcnow())


@task(
    name="record-inventory", cache_policy=REPLAY_SAFE, persist_result=True, **ON_TRANSIENT_DB_ERROR
)
def record_inventory(process_id: str, inventory: InventoryDecision) -> list[int]:
    """Create the handover checklist and the sessions; return the session ids."""
    with transaction() as session:
        _items, session_ids = resignations.record_inventory(
            session, process_id, inventory, utcnow()
        )
        return session_ids


def _item_view(item: HandoverItem) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "category": item.category,
        "description": item.description,
        "location": item.location,
        "dispute_reason": item.dispute_reason,
        "resolution": item.resolution,
    }


@task(name="items-in-state", cache_policy=REPLAY_SAFE, persist_result=True, **ON_TRANSIENT_DB_ERROR)
def items_in_state(process_id: str, state: ItemState, round_no: int) -> list[dict[str, Any]]:
    """Return the checklist items in `state` at the start of round `round_no`."""
    with transaction() as session:
        return [_item_view(i) for i in resignations.items_in_state(session, process_id, state)]


@task(
    name="record-item-verdicts",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def record_verdicts(
    process_id: str, decision: ItemConfirmationDecision, key: str
) -> ChecklistStatus:
    """Apply the successor's verdicts; return the checklist's status after them."""
    with transaction() as session:
        return resignations.record_verdicts(session, process_id, decision, key, utcnow())


@task(
    name="record-dispute-resolutions",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def record_resolutions(
    process_id: str, decision: DisputeResolutionDecision, key: str
) -> ChecklistStatus:
    """Apply the supervisor's resolutions; return the checklist's status after them."""
    with transaction() as session:
        return resignations.record_resolutions(session, process_id, decision, key, utcnow())


@task(name="close-handover", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def close_handover(process_id: str) -> None:
    """Close the handover (refused while an item is unconfirmed or disputed)."""
    with transaction() as session:
        resignations.close_handover(session, process_id, utcnow())


@task(name="load-knowledge-session", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def load_session(process_id: str, knowledge_session_id: int) -> SessionBrief:
    """Return a knowledge-transfer session with the due time of its tasks."""
    policy = load_policy()
    with reading() as session:
        calendar = process_calendar(session, process_id, policy.calendar)
        found = resignations.get_session(session, process_id, knowledge_session_id)
        on_the_day = calendar.end_of_service(calendar.nth_working_day(found.scheduled_on, 1))
        soonest = due_after(calendar, utcnow(), policy.knowledge_session_working_days)
        return SessionBrief(
            id=found.id,
            topic=found.topic,
            format=found.format,
            scheduled_on=found.scheduled_on,
            due_at=max(on_the_day, soonest),
        )


@task(
    name="record-session-held",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def record_session_held(
    process_id: str, knowledge_session_id: int, held: SessionHeldDecision, key: str
) -> list[int]:
    """Record the session and file its knowledge-base articles; return the article ids."""
    with transaction() as session:
        return resignations.record_session_held(
            session, process_id, knowledge_session_id, held, key, utcnow()
        )


@task(
    name="record-session-confirmation",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def record_session_confirmation(
    process_id: str,
    knowledge_session_id: int,
    confirmation: SessionConfirmationDecision,
    key: str,
) -> bool:
    """Record the successor's confirmation; return whether the session is confirmed."""
    with transaction() as session:
        return resignations.record_session_confirmation(
            session, process_id, knowledge_session_id, confirmation, key, utcnow()
        )


@task(
    name="schedule-follow-up",
    cache_policy=REPLAY_SAFE,
    persist_result=True,
    **ON_TRANSIENT_DB_ERROR,
)
def schedule_follow_up(process_id: str) -> tuple[datetime, datetime]:
    """Return when the follow-up evaluation opens and is due, and record it."""
    policy = load_policy()
    with transaction() as session:
        calendar = process_calendar(session, process_id, policy.calendar)
        resignation = resignations.get_resignation(session, process_id)
        days = resignation.follow_up_days or policy.follow_up_days
        opens = follow_up_opens_at(calendar, resignation.last_working_day, days)
        resignations.finish_transfer(session, process_id, opens, utcnow())
    return opens, due_after(calendar, opens, policy.evaluation_working_days)


@task(name="close-resignation", cache_policy=REPLAY_SAFE, **ON_TRANSIENT_DB_ERROR)
def close_resignation(process_id: str, evaluation: FollowUpEvaluationDecision) -> None:
    """Store the follow-up evaluation and close the resignation."""
    with transaction() as session:
        resignations.close_resignation(session, process_id, evaluation, utcnow())


@task(name="sweep-leavers", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def sweep_leavers(now: datetime) -> dict[str, int]:
    """Move work that reached handed-over leavers, then close the accounts that are due."""
    with transaction() as session:
        moved = resignations.rehome_late_work(session, now)
    with transaction() as session:
        offboarded = len(resignations.offboard_due_leavers(session, now))
    return {"rehomed": moved, "offboarded": offboarded}
