"""Sites, users, their roles and API tokens."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, utcnow


class Role(StrEnum):
    """What a person does in the department; decides which queues they see and what they may do."""

    STAFF = "staff"  # 前台 / 管家 / 客服专员
    SHIFT_LEAD = "shift_lead"  # 客服班长
    SUPERVISOR = "supervisor"  # 客服主管
    SITE_MANAGER = "site_manager"  # 管理处经理
    HR = "hr"  # 人事部
    QUALITY = "quality"  # 品质部
    OPS_ADMIN = "ops_admin"
    ENGINEERING = "engineering"  # 工程/维修
    SECURITY = "security"  # 安保
    CLEANING = "cleaning"  # 保洁
    GREENING = "greening"  # 绿化


# Roles that oversee everyone's tasks at their site (team view, reassign).
MANAGING_ROLES = frozenset({Role.SHIFT_LEAD, Role.SUPERVISOR, Role.SITE_MANAGER, Role.OPS_ADMIN})


class Site(Base):
    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    locale: Mapped[str] = mapped_column(String(8), default="zh_CN")
    email: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Lockout after repeated wrong passwords (see domain/people.py LOCKOUT).
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]

    site: Mapped[Site] = relationship(lazy="joined")
    roles: Mapped[list["UserRole"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    def has_role(self, *roles: Role) -> bool:
        """Return whether the user holds any of `roles`."""
        held = {r.role for r in self.roles}
        return any(role in held for role in roles)

    @property
    def manages(self) -> bool:
        """Return whether the user oversees the tasks of everyone at their site."""
        return self.has_role(*MANAGING_ROLES)


class UserRole(Base):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(String(32))

    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """A bearer token; only its SHA-256 digest is stored, so the table holds no usable secret."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship(lazy="joined")
