"""A resignation (离职交接): the handover plan, its checklist, the knowledge-transfer sessions."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, utcnow


class ResignationState(StrEnum):
    RECORDED = "recorded"  # notice given; the supervisor has not approved a plan yet
    PLAN_APPROVED = "plan_approved"  # successor named; the leaver's open work moved to them
    INVENTORIED = "inventoried"  # the leaver listed the handover items
    HANDED_OVER = "handed_over"  # every item confirmed by the successor
    TRANSFERRED = "transferred"  # every knowledge-transfer session confirmed by both sides
    CLOSED = "closed"  # the follow-up evaluation is done


class HandoverCategory(StrEnum):
    WORK_IN_PROGRESS = "work_in_progress"  # 在办工作
    FILES = "files"  # 文件资料
    DATA = "data"  # 数据/账号
    KEYS = "keys"  # 钥匙/门禁卡
    EQUIPMENT = "equipment"  # 设备/物品
    RESIDENT_CONTACTS = "resident_contacts"  # 业主联系信息


class ItemState(StrEnum):
    PENDING = "pending"  # waiting for the successor
    ACCEPTED = "accepted"  # the successor confirmed it
    DISPUTED = "disputed"  # the successor disputed it; the supervisor decides
    RESOLVED = "resolved"  # the supervisor settled the dispute; counts as confirmed


# States in which an item counts as handed over.
CONFIRMED_ITEM_STATES = (ItemState.ACCEPTED, ItemState.RESOLVED)


class SessionFormat(StrEnum):
    FACE_TO_FACE = "face_to_face"  # 面对面讲解
    DOCUMENT = "document"  # 共享文档
    VIDEO = "video"  # 视频教程


class SessionState(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"  # the leaver says it took place
    CONFIRMED = "confirmed"  # the successor confirms they learned it


class Resignation(Base):
    __tablename__ = "resignation"
    __table_args__ = (
        # The offboarding check (every minute): leavers whose last working day has ended.
        Index(
            "ix_resignation_offboard_due",
            "offboard_at",
            postgresql_where=text("offboarded_at IS NULL"),
            sqlite_where=text("offboarded_at IS NULL"),
        ),
    )

    process_id: Mapped[str] = mapped_column(ForeignKey("process.id"), primary_key=True)
    leaver_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    last_working_day: Mapped[date]
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[ResignationState] = mapped_column(String(16), default=ResignationState.RECORDED)
    # When the account is disabled: the end of the last working day, site time.
    offboard_at: Mapped[datetime]
    offboarded_at: Mapped[datetime | None]

    # The handover plan, as the approving supervisor set it.
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    handover_starts_on: Mapped[date | None]
    handover_ends_on: Mapped[date | None]
    follow_up_days: Mapped[int | None]
    handed_over_at: Mapped[datetime | None]

    follow_up_from: Mapped[datetime | None]
    evaluation: Mapped[dict[str, Any] | None]

    items: Mapped[list["HandoverItem"]] = relationship(
        back_populates="resignation", order_by="HandoverItem.position", lazy="selectin"
    )
    sessions: Mapped[list["KnowledgeSession"]] = relationship(
        back_populates="resignation", order_by="KnowledgeSession.position", lazy="selectin"
    )


class HandoverItem(Base):
    """One line of the handover checklist, confirmed or disputed by the successor."""

    __tablename__ = "handover_item"
    __table_args__ = (UniqueConstraint("process_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("resignation.process_id"), index=True)
    position: Mapped[int]
    category: Mapped[HandoverCategory] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[ItemState] = mapped_column(String(16), default=ItemState.PENDING)
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    confirmed_at: Mapped[datetime | None]

    resignation: Mapped[Resignation] = relationship(back_populates="items")


class KnowledgeSession(Base):
    """A knowledge-transfer session from the leaver to the successor."""

    __tablename__ = "knowledge_session"
    __table_args__ = (UniqueConstraint("process_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("resignation.process_id"), index=True)
    position: Mapped[int]
    topic: Mapped[str] = mapped_column(String(200))
    format: Mapped[SessionFormat] = mapped_column(String(16))
    scheduled_on: Mapped[date]
    state: Mapped[SessionState] = mapped_column(String(16), default=SessionState.SCHEDULED)
    summary: Mapped[str | None] = mapped_column(Text)
    held_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]

    resignation: Mapped[Resignation] = relationship(back_populates="sessions")


class KbArticle(Base):
    """A knowledge-base article: a procedure or lesson learned, readable by everyone."""

    __tablename__ = "kb_article"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), index=True)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    # Set when the article was written during a handover's knowledge transfer.
    knowledge_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_session.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    tag_rows: Mapped[list["KbArticleTag"]] = relationship(
        back_populates="article",
        cascade="all, delete-orphan",
        order_by="KbArticleTag.tag",
        lazy="selectin",
    )

    @property
    def tags(self) -> list[str]:
        """Return the article's tags, sorted."""
        return [row.tag for row in self.tag_rows]


class KbArticleTag(Base):
    __tablename__ = "kb_article_tag"
    __table_args__ = (UniqueConstraint("article_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(40), index=True)

    article: Mapped[KbArticle] = relationship(back_populates="tag_rows")
