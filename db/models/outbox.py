"""Notifications waiting to be delivered, written in the same transaction as the step."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # failed, will be retried at next_attempt_at
    DEAD = "dead"  # failed on every attempt
    UNKNOWN = "unknown"  # the send may or may not have happened; never re-sent blindly
    SKIPPED = "skipped"  # not sent: stale by the time the sender picked it up (see skip_reason)


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "state", "next_attempt_at"),
        # The burst merge looks up one person's other waiting messages.
        Index("ix_outbox_message_recipient_state", "recipient_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(48))
    channel: Mapped[str] = mapped_column(String(16))
    # A person's message has a recipient; a group bot's message has the bot's name instead.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    bot_name: Mapped[str | None] = mapped_column(String(64))
    process_id: Mapped[str | None] = mapped_column(ForeignKey("process.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_task.id"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # The signed task link, appended again when a WeCom message is clipped to its byte limit.
    link_url: Mapped[str | None] = mapped_column(String(500))
    # Urgent and escalation messages ignore quiet hours and are never merged into a burst.
    urgent: Mapped[bool] = mapped_column(default=False, server_default=false())
    state: Mapped[DeliveryState] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sending_since: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Set on the messages of a burst that went out inside another message (that one's id).
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    # Who last asked for a failed, dead or unknown message to be sent again, and when.
    retry_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    retry_requested_at: Mapped[datetime | None]
    # Why and when the sender let a stale message go unsent (an English msgid, shown translated).
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    skipped_at: Mapped[datetime | None]
