"""A step of a process that waits for a person: one row per (flow run, step key)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, utcnow
from db.models.process import Process


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class InboxTask(Base):
    __tablename__ = "inbox_task"
    __table_args__ = (
        UniqueConstraint("flow_run_id", "step_key"),
        Index("ix_inbox_task_assignee_state", "assignee_id", "state"),
        Index("ix_inbox_task_queue", "site_id", "candidate_role", "state"),
        Index("ix_inbox_task_state_due", "state", "due_at"),
        # The sweep's clock: open tasks whose SLA verdict can change at or before now.
        Index("ix_inbox_task_state_next_check", "state", "next_check_at"),
        # The dashboard's acceptance on time: a complaint's first-response task and its due time.
        Index("ix_inbox_task_process_step", "process_id", "step", "due_at"),
        # Open tasks whose holders have not been told yet (they open on a later working day).
        # The state leads so that SQLite, which plans without statistics, prefers this index to
        # (state, next_check_at) for the sweep's `state = ? AND ...` (migration 0009).
        Index(
            "ix_inbox_task_unannounced",
            "state",
            "available_from",
            postgresql_where=text("state = 'open' AND announced_at IS NULL"),
            sqlite_where=text("state = 'open' AND announced_at IS NULL"),
        ),
        # Completed but not yet handed back to the flow: the sweep's resume retry reads this,
        # those due a try first (migration 0010).
        Index(
            "ix_inbox_task_unresumed",
            "state",
            "resume_retry_at",
            postgresql_where=text("state = 'done' AND resumed_at IS NULL"),
            sqlite_where=text("state = 'done' AND resumed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("process.id"), index=True)
    flow_run_id: Mapped[str] = mapped_column(String(36))
    # The suspend key: the step plus its round, e.g. "resolution-2.1".
    step_key: Mapped[str] = mapped_column(String(64))
    # The declared step, e.g. "complaint.resolution"; it names the form and the title.
    step: Mapped[str] = mapped_column(String(64))
    state: Mapped[TaskState] = mapped_column(String(16), default=TaskState.OPEN)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    candidate_role: Mapped[str | None] = mapped_column(String(32))
    owner_of_record_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    available_from: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    completed_at: Mapped[datetime | None]
    resumed_at: Mapped[datetime | None]
    resume_error: Mapped[str | None] = mapped_column(String(500))
    # When the sweep next tries to hand the completion back, while it is not resumed.
    resume_retry_at: Mapped[datetime | None]
    announced_at: Mapped[datetime | None]

    # The SLA clock (see rules/sla.py): which ladder and target set the due time, since when,
    # which tier holds the task now, and what the sweep already did.
    sla_ladder: Mapped[str | None] = mapped_column(String(100))
    sla_target: Mapped[str | None] = mapped_column(String(32))
    sla_rule: Mapped[str | None] = mapped_column(String(160))
    sla_started_at: Mapped[datetime | None]
    tier: Mapped[str] = mapped_column(String(32), default="staff", server_default="staff")
    warned_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]

    process: Mapped[Process] = relationship(lazy="joined")
    pauses: Mapped[list["TaskPause"]] = relationship(
        back_populates="task", order_by="TaskPause.id", lazy="selectin"
    )


class TaskPause(Base):
    """A stretch when a task's SLA clock stood still, with the reason from the fixed list."""

    __tablename__ = "task_pause"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("inbox_task.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[datetime]
    started_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    task: Mapped[InboxTask] = relationship(back_populates="pauses")
