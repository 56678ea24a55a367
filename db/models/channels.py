"""Where and when each person and team hears from kefu-flow: addresses, preferences, group bots."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class NotificationPreference(Base):
    """One person's WeCom address, chosen channels and quiet hours (a row only when set)."""

    __tablename__ = "notify_preference"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    # The person's WeCom account id (企业微信 userid); messages go through the corp's app.
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    wecom_enabled: Mapped[bool] = mapped_column(default=True)
    email_enabled: Mapped[bool] = mapped_column(default=True)
    digest_enabled: Mapped[bool] = mapped_column(default=True)
    # "HH:MM" in the site's time zone; both None means the settings' defaults apply.
    quiet_hours_enabled: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GroupBot(Base):
    """A WeCom group robot of a site or a team; its key lives in KEFU_WECOM_BOT_<NAME>, not here."""

    __tablename__ = "notify_group_bot"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Upper-case letters, digits and underscores: it names the environment variable.
    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    # The team (a role at the site) whose messages the group gets; None means the whole site.
    role: Mapped[str | None] = mapped_column(String(32))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)


class BotSendWindow(Base):
    """How many messages a group bot has been given in one clock minute (WeCom allows 20)."""

    __tablename__ = "notify_bot_window"
    __table_args__ = (UniqueConstraint("bot_name", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_name: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime]
    sent: Mapped[int] = mapped_column(default=0)
