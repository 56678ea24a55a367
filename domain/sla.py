"""SLA clocks on inbox tasks: set the due time when a task opens, warn, escalate, remind, pause;
and for a task with a due time but no ladder, tell its holder and owner once that it passed.

The rules (ladders, calendars, moments) are plain functions in rules/sla.py; this module applies
their verdicts to rows, records events and queues notifications, all in the caller's transaction.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from db.models import (
    GroupBot,
    InboxTask,
    NotificationPreference,
    Role,
    TaskPause,
    TaskState,
    User,
)
from domain.calendars import calendar_book, site_calendars
from domain.errors import Conflict, Forbidden, Invalid
from domain.events import EventKind, NewEvent, record_event, record_events
from domain.people import get_user, users_with_role
from domain.steps import HumanStep
from domain.task_access import get_task, may_act
from notify.outbox import group_bots_for, outbox_rows, queue_outbox_rows
from notify.preferences import preferences_of
from rules.sla import (
    ClockFacts,
    Ladder,
    PausedSpan,
    PauseReason,
    SlaBook,
    SweepVerdict,
    TargetKind,
    TierRole,
    check_pause,
    judge,
    load_ladders,
    sweep,
)

# Work left over at `now` waits until after this moment (any later tick).
NEXT_TICK = timedelta(seconds=1)


@lru_cache
def sla_book() -> SlaBook:
    """Return the SLA ladders, loaded and validated once per process."""
    return load_ladders(calendars=calendar_book().shared)


def ladder_key(process: str, category: str, urgency: str) -> str:
    """Return the key of the ladder that governs a case of this category and urgency."""
    return sla_book().ladder_for(process, category, urgency).key


def _ladder(task: InboxTask) -> Ladder:
    assert task.sla_ladder is not None
    process, category, urgency = task.sla_ladder.split("/")
    return sla_book().ladder_for(process, category, urgency)


def clock_facts(task: InboxTask) -> ClockFacts:
    """Return what the rules need to know about a task's clock."""
    assert task.sla_started_at is not None
    return ClockFacts(
        started_at=task.sla_started_at,
        pauses=[PausedSpan(p.started_at, p.ended_at, PauseReason(p.reason)) for p in task.pauses],
        tier=TierRole(task.tier),
        escalated_at=task.escalated_at,
        warned_at=task.warned_at,
        reminded_at=task.reminded_at,
    )


def verdict(
    task: InboxTask, now: datetime, earlier: SweepVerdict | None = None
) -> SweepVerdict | None:
    """Return the rules' verdict on a task's clock at `now`, or None if it runs no SLA.

    `earlier`, a verdict on the same clock (same start and pauses) before the case changed hands
    or tiers, lends its moments: only who holds the case is judged again.
    """
    if task.sla_ladder is None or task.sla_target is None or task.sla_started_at is None:
        return None
    session = object_session(task)
    assert session is not None, "a task's clock is judged inside a session"
    calendars = site_calendars(session, task.site_id)
    ladder, kind, facts = _ladder(task), TargetKind(task.sla_target), clock_facts(task)
    if earlier is None:
        return sweep(ladder, kind, facts, now, calendars)
    return judge(ladder, kind, earlier.moments, facts, now, calendars)


def start_clock(
    task: InboxTask, ladder: str, target: str, started_at: datetime, now: datetime
) -> None:
    """Set a new task's SLA clock and due time (which rule computed it is kept too)."""
    if sla_book().ladder_for(*ladder.split("/")).target(TargetKind(target)) is None:
        return  # this ladder sets no such target (e.g. no on-site arrival for a consultation)
    task.sla_ladder, task.sla_target, task.sla_started_at = ladder, target, started_at
    task.tier = task.tier or TierRole.STAFF  # the column default is applied only on insert
    _refresh_clock(task, now)


def _refresh_clock(task: InboxTask, now: datetime) -> None:
    _set_clock(task, now, verdict(task, now))


def _set_clock(task: InboxTask, now: datetime, judged: SweepVerdict | None) -> None:
    if judged is None:
        return
    if judged.due is not None:
        task.due_at, task.sla_rule = judged.due.at, judged.due.rule
    # A verdict already due (a late sweep) is checked at once; otherwise at its next moment.
    pending = judged.warn or judged.escalate_to is not None or judged.remind
    task.next_check_at = now if pending else judged.next_check_at(now)


def due_for_check(session: Session, now: datetime, limit: int) -> list[int]:
    """Return ids of open tasks whose clock may need action at `now` (an index range scan)."""
    return list(
        session.scalars(
            select(InboxTask.id)
            .where(InboxTask.state == TaskState.OPEN, InboxTask.next_check_at <= now)
            .order_by(InboxTask.next_check_at)
            .limit(limit)
        )
    )


@dataclass
class SweepLookups:
    """What one sweep transaction reads once for all its tasks, and the notifications it queues.

    People, a site's role queues, preferences and group bots do not change while the sweep's
    transaction runs, and the overdue tasks of a tick go to the same few people. Holding the
    users also keeps them in the session's identity map, which forgets objects nobody references.
    """

    users: dict[int, User] = field(default_factory=dict)
    members: dict[tuple[int, Role], list[User]] = field(default_factory=dict)
    preferences: dict[int, NotificationPreference | None] = field(default_factory=dict)
    bots: dict[tuple[str, int, str | None], list[GroupBot]] = field(default_factory=dict)
    # Rendered notifications, inserted together when the transaction's tasks are done.
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def user(self, session: Session, user_id: int) -> User:
        """Return the user with `user_id` (NotFound if none), read once per transaction."""
        if user_id not in self.users:
            self.users[user_id] = get_user(session, user_id)
        return self.users[user_id]

    def users_with_role(self, session: Session, site_id: int, role: Role) -> list[User]:
        """Return the active users at `site_id` who hold `role`, read once per transaction."""
        key = (site_id, role)
        if key not in self.members:
            self.members[key] = users_with_role(session, site_id, role)
        return self.members[key]

    def preferences_of(
        self, session: Session, users: list[User]
    ) -> dict[int, NotificationPreference]:
        """Return the stored preferences of `users` by user id, read once per transaction."""
        unread = [user for user in users if user.id not in self.preferences]
        if unread:
            stored = preferences_of(session, unread)
            self.preferences.update({user.id: stored.get(user.id) for user in unread})
        return {
            user.id: preference
            for user in users
            if (preference := self.preferences[user.id]) is not None
        }

    def group_bots_for(
        self, session: Session, event: str, site_id: int, role: str | None
    ) -> list[GroupBot]:
        """Return the group bots of the site or team `role` following `event`, read once."""
        key = (event, site_id, role)
        if key not in self.bots:
            self.bots[key] = group_bots_for(session, event, site_id, role)
        return self.bots[key]


def apply_clock(
    session: Session, task_id: int, now: datetime, steps: Mapping[str, HumanStep[Any]]
) -> list[str]:
    """Warn, escalate one tier or remind, as the rules say at `now`, or tell that a due time
    without a ladder passed; return what was done."""
    return apply_clocks(session, [task_id], now, steps)


def apply_clocks(
    session: Session, task_ids: Sequence[int], now: datetime, steps: Mapping[str, HumanStep[Any]]
) -> list[str]:
    """Apply the clock of each task as `apply_clock` does, in `task_ids` order; return all done."""
    locked = session.scalars(
        select(InboxTask)
        .where(InboxTask.id.in_(task_ids))
        .order_by(InboxTask.id)
        .with_for_update(of=InboxTask)
    )
    by_id = {task.id: task for task in locked}
    # Every task is judged before any is changed (a verdict reads only its own task), so the
    # batch's events are deduplicated and inserted together instead of a query and flush each.
    # Each task once: a repeated id would be judged again on the state before its first pass.
    plans = [
        _plan(task, now)
        for task_id in dict.fromkeys(task_ids)
        if (task := by_id.get(task_id)) is not None and task.state == TaskState.OPEN
    ]
    planned = [event for plan in plans for event in plan.events()]
    recorded = {event.dedup_key for event in record_events(session, planned)}
    lookups = SweepLookups()
    done: list[str] = []
    for plan in plans:
        done.extend(_apply(session, plan, recorded, now, steps, lookups))
    queue_outbox_rows(session, lookups.outbox)
    return done


@dataclass
class _Plan:
    """The rules' verdict on one task's clock, and the events recording what it asks for."""

    task: InboxTask
    judged: SweepVerdict | None
    warning: NewEvent | None = None
    escalation: NewEvent | None = None
    reminder: NewEvent | None = None
    overdue: NewEvent | None = None

    def events(self) -> list[NewEvent]:
        """Return the plan's events in the order they are recorded."""
        events = (self.warning, self.escalation, self.reminder, self.overdue)
        return [e for e in events if e is not None]


def _plan(task: InboxTask, now: datetime) -> _Plan:
    judged = verdict(task, now)
    plan = _Plan(task, judged)
    if judged is None:
        if task.due_at is not None and task.due_at <= now:
            plan.overdue = _overdue_event(task, now)
        return plan
    if judged.warn:
        plan.warning = _warning_event(task, now, judged)
    if judged.escalate_to is not None:
        plan.escalation = _escalation_event(task, judged.escalate_to, now, judged)
    elif judged.remind:
        plan.reminder = _reminder_event(task, now, judged)
    return plan


def _apply(
    session: Session,
    plan: _Plan,
    recorded: set[str | None],
    now: datetime,
    steps: Mapping[str, HumanStep[Any]],
    lookups: SweepLookups,
) -> list[str]:
    # An event already recorded (an earlier sweep in this minute) was acted on then: the action
    # counts as done, but nobody is told twice.
    task, done = plan.task, []
    if plan.judged is None:
        # No ladder: its due time is the one moment to check. Once it passed, the holder and the
        # owner of record are told; the task stays with its holder, whose role decides the step.
        if plan.overdue is not None:
            if plan.overdue.dedup_key in recorded:
                _tell_overdue(session, task, now, plan.overdue, steps, lookups)
            done.append("overdue")
        task.next_check_at = None if plan.overdue is not None else task.due_at
        return done
    if plan.warning is not None:
        if plan.warning.dedup_key in recorded:
            _warn(session, task, now, plan.warning, steps, lookups)
        done.append("warned")
    if plan.escalation is not None:
        to_role = TierRole(plan.escalation.data["to_role"])
        if plan.escalation.dedup_key in recorded:
            _escalate(session, task, to_role, now, plan.escalation, steps, lookups)
        done.append(f"escalated:{to_role}")
    elif plan.reminder is not None:
        if plan.reminder.dedup_key in recorded:
            _remind(session, task, now, plan.reminder, steps, lookups)
        done.append("reminded")
    changed = any(event.dedup_key in recorded for event in plan.events())
    # A task nothing was done to would be judged the same again.
    _set_clock(task, now, verdict(task, now, plan.judged) if changed else plan.judged)
    if task.next_check_at is not None and task.next_check_at <= now:
        # One tier per tick, so every tier is told: a sweep that fell behind catches up a tier
        # a minute instead of jumping to the top.
        task.next_check_at = now + NEXT_TICK
    return done


def _holders(session: Session, task: InboxTask, lookups: SweepLookups) -> list[User]:
    if task.assignee_id is not None:
        return [lookups.user(session, task.assignee_id)]
    return lookups.users_with_role(session, task.site_id, Role(task.candidate_role or ""))


def _context(task: InboxTask, steps: Mapping[str, HumanStep[Any]], **extra: Any) -> dict[str, Any]:
    return {
        "step_title": steps[task.step].title,
        "process_subject": task.process.subject,
        "due_at": task.due_at,
        **extra,
    }


def _event(
    task: InboxTask, kind: EventKind, now: datetime, data: dict[str, Any], key: str
) -> NewEvent:
    return NewEvent(
        process_id=task.process_id, task_id=task.id, kind=kind, at=now, data=data, dedup_key=key
    )


def _warning_event(task: InboxTask, now: datetime, judged: SweepVerdict) -> NewEvent:
    data = {
        "target": task.sla_target,
        "due_at": _iso(task.due_at),
        "rule": judged.warning.rule if judged.warning else None,
    }
    key = f"task:{task.id}:warn:{task.sla_target}:{task.tier}"
    return _event(task, EventKind.SLA_WARNING, now, data, key)


def _warn(
    session: Session,
    task: InboxTask,
    now: datetime,
    event: NewEvent,
    steps: Mapping[str, HumanStep[Any]],
    lookups: SweepLookups,
) -> None:
    task.warned_at = now
    holders = _holders(session, task, lookups)
    holder_name = holders[0].display_name if len(holders) == 1 else None
    context = _context(
        task, steps, holder_name=holder_name, reason=task.sla_rule or "", tier=_tier_number(task)
    )
    _tell(session, task, "task_due_soon", holders, context, event, lookups)


def _overdue_event(task: InboxTask, now: datetime) -> NewEvent:
    data = {"due_at": _iso(task.due_at), "holder_id": task.assignee_id, "role": task.candidate_role}
    return _event(
        task, EventKind.TASK_OVERDUE, now, data, f"task:{task.id}:overdue:{_iso(task.due_at)}"
    )


def _tell_overdue(
    session: Session,
    task: InboxTask,
    now: datetime,
    event: NewEvent,
    steps: Mapping[str, HumanStep[Any]],
    lookups: SweepLookups,
) -> None:
    holders = _holders(session, task, lookups)
    told = {user.id: user for user in holders}
    if task.owner_of_record_id is not None:
        told.setdefault(task.owner_of_record_id, lookups.user(session, task.owner_of_record_id))
    holder_name = holders[0].display_name if task.assignee_id is not None else None
    context = _context(task, steps, holder_name=holder_name)
    _tell(session, task, "task_overdue", list(told.values()), context, event, lookups)


def _escalation_event(
    task: InboxTask, to_role: TierRole, now: datetime, judged: SweepVerdict
) -> NewEvent:
    data = {
        "from_user_id": task.assignee_id,
        "from_role": task.candidate_role,
        "from_tier": task.tier,
        "to_role": str(to_role),
        "owner_of_record_id": task.owner_of_record_id,
        "reason": judged.next_tier.rule if judged.next_tier else task.sla_rule or "",
    }
    return _event(task, EventKind.TASK_ESCALATED, now, data, f"task:{task.id}:tier:{to_role}")


def _escalate(
    session: Session,
    task: InboxTask,
    to_role: TierRole,
    now: datetime,
    event: NewEvent,
    steps: Mapping[str, HumanStep[Any]],
    lookups: SweepLookups,
) -> None:
    previous = _holders(session, task, lookups)
    from_name = previous[0].display_name if task.assignee_id is not None else task.candidate_role
    # The next tier's queue receives the task; the owner of record stays on it (首问负责).
    task.tier, task.candidate_role, task.assignee_id = str(to_role), str(to_role), None
    task.escalated_at, task.warned_at = now, None
    told = {
        u.id: u for u in [*lookups.users_with_role(session, task.site_id, Role(to_role)), *previous]
    }
    if task.owner_of_record_id is not None:
        told.setdefault(task.owner_of_record_id, lookups.user(session, task.owner_of_record_id))
    context = _context(
        task, steps, from_name=from_name, to_name=ROLE_TITLES[to_role],
        reason=event.data["reason"], tier=_tier_number(task),
    )  # fmt: skip
    _tell(session, task, "task_escalated", list(told.values()), context, event, lookups)


def _reminder_event(task: InboxTask, now: datetime, judged: SweepVerdict) -> NewEvent:
    moment = judged.next_reminder.at if judged.next_reminder else now
    data = {"tier": task.tier, "due_at": _iso(task.due_at)}
    return _event(
        task, EventKind.SLA_REMINDER, now, data, f"task:{task.id}:remind:{moment.isoformat()}"
    )


def _remind(
    session: Session,
    task: InboxTask,
    now: datetime,
    event: NewEvent,
    steps: Mapping[str, HumanStep[Any]],
    lookups: SweepLookups,
) -> None:
    task.reminded_at = now
    context = _context(
        task, steps, from_name=None, to_name=ROLE_TITLES[TierRole(task.tier)],
        reason=task.sla_rule or "", tier=_tier_number(task),
    )  # fmt: skip
    holders = _holders(session, task, lookups)
    _tell(session, task, "task_escalated", holders, context, event, lookups)


def _tell(
    session: Session,
    task: InboxTask,
    notification: str,
    recipients: list[User],
    context: dict[str, Any],
    event: NewEvent,
    lookups: SweepLookups,
) -> None:
    assert event.dedup_key is not None, "a sweep's events all carry a key"
    bots = lookups.group_bots_for(session, notification, task.site_id, task.candidate_role)
    lookups.outbox += outbox_rows(
        session, event=notification, recipients=recipients, context=context,
        dedup_key=event.dedup_key, process_id=task.process_id, task_id=task.id,
        preferences=lookups.preferences_of(session, recipients), group_bots=bots,
    )  # fmt: skip


def _tier_number(task: InboxTask) -> int:
    return TierRole(task.tier).rank


# How a tier is named to the people told about an escalation.
ROLE_TITLES = {
    TierRole.STAFF: "首问责任人",
    TierRole.SHIFT_LEAD: "客服班长",
    TierRole.SUPERVISOR: "客服主管",
    TierRole.SITE_MANAGER: "管理处经理",
    TierRole.QUALITY: "品质部",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def pause_clock(
    session: Session, user: User, task_id: int, reason: str, note: str, now: datetime
) -> InboxTask:
    """Stop a task's SLA clock for a reason from the fixed list; audited."""
    task = get_task(session, user, task_id)
    if not may_act(user, task):
        raise Forbidden("Only the holder of the task can pause its clock")
    if task.state != TaskState.OPEN or task.sla_ladder is None:
        raise Conflict("This task has no running SLA clock")
    try:
        pause_reason = PauseReason(reason)
        check_pause(_ladder(task), pause_reason)
    except ValueError:
        allowed = ", ".join(_ladder(task).pause_on)
        raise Invalid.field("reason", "Must be one of: {expected}", expected=allowed) from None
    if any(p.ended_at is None for p in task.pauses):
        raise Conflict("The clock is already paused")
    task.pauses.append(
        TaskPause(reason=pause_reason, note=note, started_at=now, started_by_id=user.id)
    )
    task.next_check_at = None  # nothing is due while the clock stands still
    data = {"reason": str(pause_reason), "note": note}
    record_event(
        session, process_id=task.process_id, task_id=task.id, kind=EventKind.SLA_PAUSED, at=now,
        actor_id=user.id, data=data,
    )  # fmt: skip
    session.flush()
    return task


def resume_clock(session: Session, user: User, task_id: int, now: datetime) -> InboxTask:
    """Restart a paused clock; the paused time is not counted, so the due time moves out."""
    task = get_task(session, user, task_id)
    if not may_act(user, task):
        raise Forbidden("Only the holder of the task can resume its clock")
    open_pause = next((p for p in task.pauses if p.ended_at is None), None)
    if open_pause is None:
        raise Conflict("The clock is not paused")
    open_pause.ended_at, open_pause.ended_by_id = now, user.id
    session.flush()
    before = task.due_at
    _refresh_clock(task, now)
    data = {
        "paused_since": open_pause.started_at.isoformat(),
        "due_before": _iso(before),
        "due_after": _iso(task.due_at),
    }
    record_event(
        session, process_id=task.process_id, task_id=task.id, kind=EventKind.SLA_RESUMED, at=now,
        actor_id=user.id, data=data,
    )  # fmt: skip
    return task


def unannounced_tasks(session: Session, now: datetime, limit: int) -> list[int]:
    """Return ids of open tasks that became available but whose holders were not told yet."""
    return list(
        session.scalars(
            select(InboxTask.id)
            .where(
                InboxTask.state == TaskState.OPEN,
                InboxTask.announced_at.is_(None),
                InboxTask.available_from <= now,
            )
            .order_by(InboxTask.available_from)
            .limit(limit)
        )
    )
