"""The audit trail of the admin pages: who changed which user, site or channel setting, and how."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base
from db.models.people import User


class AdminEntity(StrEnum):
    """What an admin change is about; `entity_id` is its row id (a preference: its user id)."""

    USER = "user"
    SITE = "site"
    PREFERENCE = "preference"


class AdminAction(StrEnum):
    """What an ops admin did."""

    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"  # display name, email or site
    ROLES_CHANGED = "roles_changed"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    PASSWORD_RESET = "password_reset"
    UNLOCKED = "unlocked"
    SITE_CREATED = "site_created"
    CHANNELS_CHANGED = "channels_changed"


class AdminChange(Base):
    """One write on the admin pages; `data` holds the values before and after, never a password."""

    __tablename__ = "admin_change"
    # A user's page lists the changes made to that user.
    __table_args__ = (Index("ix_admin_change_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    at: Mapped[datetime]
    entity: Mapped[AdminEntity] = mapped_column(String(16))
    entity_id: Mapped[int]
    action: Mapped[AdminAction] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    actor: Mapped[User] = relationship(lazy="joined")
