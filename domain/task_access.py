"""Who may see and act on inbox tasks: the one readable statement every view shares."""

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import Session

from db.models import InboxTask, Role, User
from domain.errors import NotFound


def readable_tasks(user: User) -> Select[tuple[InboxTask]]:
    """Return the one statement that defines which tasks `user` may see."""
    statement = select(InboxTask)
    if user.has_role(Role.OPS_ADMIN):
        return statement
    held_roles = [r.role for r in user.roles]
    return statement.where(
        or_(
            InboxTask.assignee_id == user.id,
            InboxTask.owner_of_record_id == user.id,
            and_(
                InboxTask.site_id == user.site_id,
                InboxTask.assignee_id.is_(None),
                InboxTask.candidate_role.in_(held_roles),
            ),
            InboxTask.site_id == user.site_id if user.manages else false(),
        )
    )


def may_act(user: User, task: InboxTask) -> bool:
    """Return whether `user` may complete `task`.

    Its holder may; a task nobody holds (in a queue, e.g. after an escalation) is open to its
    queue and to its owner of record (首问负责). Once a colleague holds it, only they may.
    """
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    if task.owner_of_record_id == user.id:
        return True
    return (
        task.site_id == user.site_id
        and task.candidate_role is not None
        and user.has_role(Role(task.candidate_role))
    )


def may_manage(user: User, task: InboxTask) -> bool:
    """Return whether `user` oversees `task` (reassign, unclaim on someone's behalf)."""
    return user.has_role(Role.OPS_ADMIN) or (user.manages and user.site_id == task.site_id)


def get_task(session: Session, user: User, task_id: int) -> InboxTask:
    """Return the task if `user` may see it; a task they may not see does not exist for them."""
    task = session.scalar(readable_tasks(user).where(InboxTask.id == task_id))
    if task is None:
        raise NotFound("Task {task_id} does not exist", task_id=task_id)
    return task
