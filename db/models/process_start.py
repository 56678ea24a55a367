"""The Idempotency-Key of each process start: a repeated start returns the process it made."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow

IDEMPOTENCY_KEY_MAX_CHARS = 100


class ProcessStartKey(Base):
    __tablename__ = "process_start_key"
    # The key is the client's: two people may happen to pick the same one.
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX_CHARS))
    # SHA-256 of the kind and the intake form: the same key sent with another form is refused.
    request_digest: Mapped[str] = mapped_column(String(64))
    # Set in the transaction that records the process, so a committed key always has one.
    process_id: Mapped[str | None] = mapped_column(ForeignKey("process.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
