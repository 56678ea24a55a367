"""A running business process and its append-only event history."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class ProcessKind(StrEnum):
    COMPLAINT = "complaint"
    TRAINING_PLAN = "training_plan"
    ONBOARDING = "onboarding"
    RESIGNATION = "resignation"


class ProcessState(StrEnum):
    STARTING = "starting"  # recorded; its flow run is not created yet (the sweep retries)
    RUNNING = "running"
    CLOSED = "closed"


class Process(Base):
    __tablename__ = "process"
    __table_args__ = (
        Index("ix_process_kind_state", "kind", "state"),
        # The sweep looks for processes still "starting" every minute.
        Index("ix_process_state", "state"),
        # The dashboard keeps an event only if its process is at the chosen sites: the site
        # comes from this index instead of the row.
        Index("ix_process_id_site", "id", "site_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    kind: Mapped[ProcessKind] = mapped_column(String(32))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    subject: Mapped[str] = mapped_column(String(200))
    state: Mapped[ProcessState] = mapped_column(String(16), default=ProcessState.STARTING)
    # The step the process waits on, for the dashboard; kept by the human-step primitive.
    current_step: Mapped[str | None] = mapped_column(String(64))
    flow_run_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    started_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class Event(Base):
    """One state change: who did what, when, with the values before and after. Never updated."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_process_at", "process_id", "at"),
        Index("ix_event_kind_at", "kind", "at"),
        # The dashboard (domain/metrics/) reads a period's events of one kind with their
        # process (and id: PostgreSQL indexes do not carry it), then each process's events of
        # one kind (its closing, escalations, the completion of a task), without reading rows.
        Index("ix_event_kind_at_process", "kind", "at", "process_id", "id"),
        Index("ix_event_process_kind_at_task", "process_id", "kind", "at", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("process.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_task.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # Events written by replayable flow steps carry a key, so a replay cannot write them twice.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
