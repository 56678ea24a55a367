"""A training plan (培训计划): its versions, decisions, sessions, attendance and assessment.

Each submitted version keeps the whole plan document (items, sessions, budget lines) as
validated JSON, so every version stays readable as it was approved or rejected. The training
record (《培训记录表》) is the attendance and score rows, kept at least `retain_until`.
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, utcnow


class PlanState(StrEnum):
    DRAFTING = "drafting"  # the supervisor drafts (or revises after a rejection)
    SUBMITTED = "submitted"  # waiting for the site manager
    APPROVED = "approved"  # approved; not yet announced
    ANNOUNCED = "announced"  # every attendee told (计划沟通); sessions run
    ASSESSING = "assessing"  # every session recorded; the assessment is due
    ANALYSING = "analysing"  # assessed; the supervisor analyses the results
    REVISING = "revising"  # the analysis asked for a revision (approved again)
    CLOSED = "closed"


class DecisionOutcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    # The drafter tried to approve their own plan; the decision does not count.
    SELF_APPROVAL_REFUSED = "self_approval_refused"


class SessionState(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


class TrainingPlan(Base):
    __tablename__ = "training_plan"
    __table_args__ = (
        # One plan per site, kind and period: the scheduled kickoff and a supervisor meet here.
        UniqueConstraint("site_id", "kind", "period_starts_on"),
    )

    process_id: Mapped[str] = mapped_column(ForeignKey("process.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    kind: Mapped[str] = mapped_column(String(16))
    period_starts_on: Mapped[date]
    period_ends_on: Mapped[date]
    state: Mapped[PlanState] = mapped_column(String(16), default=PlanState.DRAFTING)
    # Who drafts: the supervisor who started it, or whoever first submits a scheduled plan.
    drafter_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The deadlines as the rules computed them (working days), and which rule.
    opens_on: Mapped[date]
    draft_due_on: Mapped[date]
    approval_due_on: Mapped[date]
    deadline_rule: Mapped[str] = mapped_column(String(160))
    approved_version: Mapped[int | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    approved_at: Mapped[datetime | None]
    announced_at: Mapped[datetime | None]
    analysis: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list["TrainingPlanVersion"]] = relationship(
        back_populates="plan", order_by="TrainingPlanVersion.number", lazy="selectin"
    )
    decisions: Mapped[list["TrainingPlanDecision"]] = relationship(
        order_by="TrainingPlanDecision.id", lazy="selectin"
    )


class TrainingPlanVersion(Base):
    """One submitted version of the plan document; never changed after it is written."""

    __tablename__ = "training_plan_version"
    __table_args__ = (
        UniqueConstraint("process_id", "number"),
        # The human step that submitted it: a replayed step writes no second version.
        UniqueConstraint("process_id", "step_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("training_plan.process_id"))
    number: Mapped[int]
    step_key: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]]
    # Problems found when it was submitted through the generic inbox (empty: fit to decide).
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[datetime]

    plan: Mapped[TrainingPlan] = relationship(back_populates="versions")


class TrainingPlanDecision(Base):
    """The site manager's decision on a version, with its reason."""

    __tablename__ = "training_plan_decision"
    __table_args__ = (UniqueConstraint("process_id", "step_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("training_plan.process_id"))
    version_number: Mapped[int]
    step_key: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[DecisionOutcome] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime]


class TrainingSession(Base):
    """One session of the approved plan, dated; a one-off session or a cadence's occurrence."""

    __tablename__ = "training_session"
    __table_args__ = (UniqueConstraint("process_id", "item_index", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("training_plan.process_id"), index=True)
    item_index: Mapped[int]
    topic: Mapped[str] = mapped_column(String(200))
    trainer_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    method: Mapped[str] = mapped_column(String(16))
    hours: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    venue: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime]
    state: Mapped[SessionState] = mapped_column(String(16), default=SessionState.SCHEDULED)
    summary: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    recorded_at: Mapped[datetime | None]

    attendance: Mapped[list["AttendanceRecord"]] = relationship(
        back_populates="training_session", lazy="selectin"
    )


class AttendanceRecord(Base):
    """Whether one employee attended one session (a line of the training record)."""

    __tablename__ = "training_attendance"
    __table_args__ = (
        UniqueConstraint("session_id", "employee_id"),
        Index("ix_training_attendance_employee", "employee_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_session.id"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(200), default="")
    recorded_at: Mapped[datetime]
    # Kept at least this long (domain.md §1: three years); nothing may delete it earlier.
    retain_until: Mapped[date]

    training_session: Mapped[TrainingSession] = relationship(back_populates="attendance")


class AssessmentResult(Base):
    """One employee's assessment after the plan's period: written and practical scores."""

    __tablename__ = "training_assessment"
    __table_args__ = (
        UniqueConstraint("process_id", "employee_id"),
        Index("ix_training_assessment_employee", "employee_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("training_plan.process_id"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    assessed_on: Mapped[date]
    written: Mapped[int]
    practical: Mapped[int]
    passed: Mapped[bool]
    note: Mapped[str] = mapped_column(String(200), default="")
    assessed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    recorded_at: Mapped[datetime]
    retain_until: Mapped[date]
