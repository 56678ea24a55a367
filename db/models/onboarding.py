"""A new hire's onboarding and employee record (《员工记录表》): days, attempts, points, outcome."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base


class OnboardingState(StrEnum):
    TRAINING = "training"
    EXAM = "exam"
    RETRAINING = "retraining"
    DISMISSAL_PENDING = "dismissal_pending"  # waiting on the site manager's decision
    ON_POST = "on_post"  # passed: formally took the post
    DISMISSED = "dismissed"


class NewHire(Base):
    """The new hire of one onboarding process, and the head of their employee record."""

    __tablename__ = "new_hire"
    __table_args__ = (
        Index("ix_new_hire_trainer_cohort", "trainer_id", "cohort"),
        # The sweep's final-deadline check: hires awaiting a retake whose deadline has passed.
        Index("ix_new_hire_state_final_deadline", "state", "final_deadline"),
    )

    process_id: Mapped[str] = mapped_column(ForeignKey("process.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    post: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(32))
    start_date: Mapped[date]
    # The hire's own account, once they have one; until then only HR and managers are told.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    trainer_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    cohort: Mapped[str] = mapped_column(String(32))
    registered_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The policy in force at registration (rules/onboarding.py), so config changes never rewrite
    # a running onboarding.
    policy: Mapped[dict[str, Any]]
    state: Mapped[OnboardingState] = mapped_column(String(24), default=OnboardingState.TRAINING)
    # Times the site manager gave one more chance instead of dismissing.
    reprieves: Mapped[int] = mapped_column(default=0)
    final_deadline: Mapped[datetime | None]
    outcome_at: Mapped[datetime | None]
    outcome_note: Mapped[str | None] = mapped_column(Text)

    training_days: Mapped[list["TrainingDay"]] = relationship(
        order_by="TrainingDay.day", lazy="selectin"
    )
    exam_attempts: Mapped[list["ExamAttempt"]] = relationship(
        order_by="ExamAttempt.attempt", lazy="selectin"
    )
    retrainings: Mapped[list["Retraining"]] = relationship(
        order_by="Retraining.round", lazy="selectin"
    )
    point_entries: Mapped[list["PointEntry"]] = relationship(
        order_by="PointEntry.id", lazy="selectin"
    )


class TrainingDay(Base):
    """One confirmed training day (days 5–6 confirmed by the mentor, with notes)."""

    __tablename__ = "training_day"
    __table_args__ = (UniqueConstraint("process_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("new_hire.process_id"))
    day: Mapped[int]
    held_on: Mapped[date]
    topic: Mapped[str] = mapped_column(String(200))
    with_mentor: Mapped[bool] = mapped_column(default=False)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    confirmed_at: Mapped[datetime]
    notes: Mapped[str] = mapped_column(Text, default="")


class ExamAttempt(Base):
    """One sitting of the exam: theory (0–90) plus discipline (0–10) against the pass mark."""

    __tablename__ = "exam_attempt"
    __table_args__ = (UniqueConstraint("process_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("new_hire.process_id"))
    attempt: Mapped[int]
    theory: Mapped[int]
    discipline: Mapped[int]
    total: Mapped[int]
    pass_mark: Mapped[int]
    passed: Mapped[bool]
    # Scored after the final deadline: a pass then no longer counts.
    late: Mapped[bool] = mapped_column(default=False)
    scored_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    scored_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")


class Retraining(Base):
    """Individual retraining after a failed exam, confirmed by the trainer."""

    __tablename__ = "retraining"
    __table_args__ = (UniqueConstraint("process_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("new_hire.process_id"))
    round: Mapped[int]  # the failed attempt it follows
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime]
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    confirmed_at: Mapped[datetime | None]
    notes: Mapped[str] = mapped_column(Text, default="")


class PointEntry(Base):
    """Attendance points taken off (negative), once per source (a day's report, a failed exam)."""

    __tablename__ = "attendance_point"
    __table_args__ = (UniqueConstraint("process_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("new_hire.process_id"), index=True)
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    # e.g. "day-3:unexcused_absence" or "exam-2": a replayed step cannot deduct twice.
    source: Mapped[str] = mapped_column(String(64))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    recorded_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
