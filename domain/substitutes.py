"""Out of office: who stands in for whom, and handing the away person's tasks to them."""

from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from db.models import InboxTask, Role, Substitution, TaskState, User
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.events import EventKind, record_event
from domain.task_access import declared_step, may_take

# The reason column's width.
MAX_REASON_CHARS = 200


def may_arrange(actor: User, user: User) -> bool:
    """Return whether `actor` may set or cancel `user`'s substitutes: themselves or a manager."""
    return (
        actor.id == user.id
        or actor.has_role(Role.OPS_ADMIN)
        or (actor.manages and actor.site_id == user.site_id)
    )


def set_substitute(
    session: Session,
    actor: User,
    user_id: int,
    substitute_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    now: datetime,
) -> Substitution:
    """Record who stands in for `user_id` during [starts_at, ends_at); return the substitution.

    If the period has begun, the person's open tasks move to the substitute at once.
    """
    # Locking the away person's row serialises two requests for the same person, so two
    # overlapping periods cannot both pass the overlap check below. "OF app_user": the row
    # comes with its site joined, and PostgreSQL refuses to lock the outer join's side.
    user = session.scalar(select(User).where(User.id == user_id).with_for_update(of=User))
    if user is None:
        raise NotFound("User {user_id} does not exist", user_id=user_id)
    if not may_arrange(actor, user):
        raise Forbidden("Only the person or a manager at their site can arrange a substitute")
    substitute = session.get(User, substitute_id)
    if substitute is None or not substitute.active:
        raise Invalid.field("substitute_id", "No active user with this id")
    if substitute.id == user.id:
        raise Invalid.field("substitute_id", "Choose someone other than the person who is away")
    if substitute.site_id != user.site_id:
        raise Invalid.field("substitute_id", "This person works at another site")
    if not substitute.has_role(*(r.role for r in user.roles)):
        raise Invalid.field(
            "substitute_id", "The substitute must hold one of the roles of the person who is away"
        )
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None:
            raise Invalid.field(name, "Give the time with its time zone")
    if ends_at <= starts_at:
        raise Invalid.field("ends_at", "The end must be after the start")
    if ends_at <= now:
        raise Invalid.field("ends_at", "This period is already over")
    text = reason.strip()
    if not text:
        raise Invalid.field("reason", "A reason is required")
    if len(text) > MAX_REASON_CHARS:
        raise Invalid.field(
            "reason", "The reason can be at most {max_chars} characters", max_chars=MAX_REASON_CHARS
        )
    # Someone away themselves cannot take over; this also keeps two people from naming each
    # other, which would send their tasks back and forth.
    if session.scalar(_overlapping(substitute.id, starts_at, ends_at).limit(1)) is not None:
        raise Invalid.field("substitute_id", "This person is away themselves during this period")
    if session.scalar(_overlapping(user.id, starts_at, ends_at).limit(1)) is not None:
        raise Conflict(
            "{name} already has a substitute for part of this period", name=user.display_name
        )
    substitution = Substitution(
        user_id=user.id,
        substitute_id=substitute.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=text,
        created_by_id=actor.id,
        created_at=now,
    )
    session.add(substitution)
    session.flush()
    if starts_at <= now:
        hand_over_open_tasks(session, substitution, actor.id, now)
    return substitution


def hand_over_open_tasks(
    session: Session, substitution: Substitution, actor_id: int | None, now: datetime
) -> list[int]:
    """Move the away person's open tasks to their substitute; return the ids of those moved.

    set_substitute calls this when the period has begun; a period set ahead of time needs the
    same call when it starts. Tasks that open only after the period stay with the person, and
    so do tasks whose step the substitute may not decide (a manager can reassign those).
    """
    substitute = session.get_one(User, substitution.substitute_id)
    candidates = list(
        session.scalars(
            select(InboxTask)
            .where(
                InboxTask.state == TaskState.OPEN,
                InboxTask.assignee_id == substitution.user_id,
                InboxTask.available_from < substitution.ends_at,
            )
            .order_by(InboxTask.id)
        )
    )
    moved = []
    for task in candidates:
        if not may_take(session, substitute, task, declared_step(task)):
            record_event(
                session,
                process_id=task.process_id,
                task_id=task.id,
                kind=EventKind.TASK_KEPT_FROM_SUBSTITUTE,
                at=now,
                actor_id=actor_id,
                data={"from_user_id": substitution.user_id, "to_user_id": substitute.id},
                dedup_key=f"task:{task.id}:kept-from-substitution:{substitution.id}",
            )
            continue
        # Compare and set: a task completed or handed on meanwhile is left alone.
        won = session.execute(
            update(InboxTask)
            .where(
                InboxTask.id == task.id,
                InboxTask.state == TaskState.OPEN,
                InboxTask.assignee_id == substitution.user_id,
            )
            .values(assignee_id=substitute.id)
        ).rowcount
        if not won:
            continue
        record_event(
            session,
            process_id=task.process_id,
            task_id=task.id,
            kind=EventKind.TASK_ROUTED_TO_SUBSTITUTE,
            at=now,
            actor_id=actor_id,
            data={
                "from_user_id": substitution.user_id,
                "to_user_id": substitution.substitute_id,
                "substitution_id": substitution.id,
            },
        )
        moved.append(task.id)
    return moved


def cancel_substitute(
    session: Session, actor: User, substitution_id: int, now: datetime
) -> Substitution:
    """End a substitution early (or call off a planned one); return it.

    Tasks already handed over stay with the substitute: they may be half done, and a manager
    can reassign them.
    """
    substitution = session.get(Substitution, substitution_id)
    if substitution is None:
        raise NotFound(
            "Substitution {substitution_id} does not exist", substitution_id=substitution_id
        )
    if not may_arrange(actor, substitution.user):
        raise Forbidden("Only the person or a manager at their site can arrange a substitute")
    if substitution.ends_at <= now:
        raise Conflict("This substitution has already ended")
    cancelled = session.execute(
        update(Substitution)
        .where(Substitution.id == substitution_id, Substitution.cancelled_at.is_(None))
        .values(cancelled_at=now)
    ).rowcount
    if not cancelled:
        raise Conflict("This substitution is already cancelled")
    session.refresh(substitution)
    return substitution


def active_substitute(session: Session, user_id: int, now: datetime) -> User | None:
    """Return who stands in for `user_id` at `now`, or None when they are not away.

    If the substitute is away too, their own substitute is taken, one hop and no further, and
    never the person themselves, so a chain of absences can never loop.
    """
    first = _standing_in(session, user_id, now)
    if first is None:
        return None
    second = _standing_in(session, first.id, now)
    if second is not None and second.id != user_id:
        return second
    return first


def substitutions_for(session: Session, site_id: int, now: datetime) -> list[Substitution]:
    """Return the site's current and upcoming substitutions, soonest first."""
    return list(
        session.scalars(
            select(Substitution)
            .join(User, Substitution.user_id == User.id)
            .where(
                User.site_id == site_id,
                Substitution.cancelled_at.is_(None),
                Substitution.ends_at > now,
            )
            .order_by(Substitution.starts_at, Substitution.id)
        )
    )


def _standing_in(session: Session, user_id: int, now: datetime) -> User | None:
    """Return the active substitute of `user_id` at `now`, directly, or None."""
    substitution = session.scalar(
        select(Substitution)
        .join(User, Substitution.substitute_id == User.id)
        .where(
            Substitution.user_id == user_id,
            Substitution.cancelled_at.is_(None),
            Substitution.starts_at <= now,
            Substitution.ends_at > now,
            User.active,
        )
        .order_by(Substitution.starts_at.desc(), Substitution.id.desc())
        .limit(1)
    )
    return substitution.substitute if substitution is not None else None


def _overlapping(
    user_id: int, starts_at: datetime, ends_at: datetime
) -> Select[tuple[Substitution]]:
    """Return the statement for `user_id`'s live substitutions that overlap the period."""
    return select(Substitution).where(
        Substitution.user_id == user_id,
        Substitution.cancelled_at.is_(None),
        Substitution.starts_at < ends_at,
        Substitution.ends_at > starts_at,
    )


def running_substitutions(session: Session, now: datetime) -> list[Substitution]:
    """Return the substitutions in force at `now`, for the sweep to route work still held."""
    return list(
        session.scalars(
            select(Substitution).where(
                Substitution.starts_at <= now,
                Substitution.ends_at > now,
                Substitution.cancelled_at.is_(None),
            )
        )
    )
