"""The notification centre: each person's notices in the web inbox, beside email and WeCom."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class Notice(Base):
    """One notification as the person reads it in the inbox's bell; written with the outbox."""

    __tablename__ = "notice"
    __table_args__ = (
        # The bell: one person's unread notices, and their latest ones.
        Index("ix_notice_recipient_read", "recipient_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The notification's key and person, as the outbox keys them: a replayed step adds nothing.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(48))
    process_id: Mapped[str | None] = mapped_column(ForeignKey("process.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_task.id"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
