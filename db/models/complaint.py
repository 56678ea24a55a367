"""A resident's complaint or service request, owned by its first responder (首问负责)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class Channel(StrEnum):
    PHONE = "phone"
    FRONT_DESK = "front_desk"
    WECHAT = "wechat"
    WALK_IN = "walk_in"


class Urgency(StrEnum):
    URGENT = "urgent"
    GENERAL = "general"


class Category(StrEnum):
    COMPLAINT = "complaint"  # 投诉
    REPAIR = "repair"  # 报修
    CONSULTATION = "consultation"  # 咨询
    ENVIRONMENT = "environment"  # 环境卫生
    SECURITY = "security"  # 安全秩序
    NOISE = "noise"  # 噪音扰民
    PARKING = "parking"  # 停车
    OTHER = "other"


class ComplaintState(StrEnum):
    RECEIVED = "received"
    RESPONDED = "responded"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"


class Complaint(Base):
    __tablename__ = "complaint"

    process_id: Mapped[str] = mapped_column(ForeignKey("process.id"), primary_key=True)
    resident_name: Mapped[str] = mapped_column(String(50))
    unit: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(String(32))
    channel: Mapped[Channel] = mapped_column(String(16))
    category: Mapped[Category] = mapped_column(String(24))
    urgency: Mapped[Urgency] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[ComplaintState] = mapped_column(String(16), default=ComplaintState.RECEIVED)
    first_responder_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    # 首问负责: stays the first responder unless the case is properly handed over.
    owner_of_record_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    received_at: Mapped[datetime]
    reopen_count: Mapped[int] = mapped_column(default=0)
    satisfaction: Mapped[int | None]
