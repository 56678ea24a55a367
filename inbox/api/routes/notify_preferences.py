"""My notification settings: WeCom account, channels, daily digest and quiet hours."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from inbox.api.deps import ClockDep, CurrentUser, SessionDep
from notify.preferences import preference_of, update_preference

router = APIRouter(prefix="/me/notifications", tags=["notifications"])

CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


class NotificationPreferencePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    wecom_userid: str | None
    wecom_enabled: bool
    email_enabled: bool
    digest_enabled: bool
    quiet_hours_enabled: bool
    quiet_start: str | None
    quiet_end: str | None
    updated_at: datetime | None = None


class NotificationPreferenceUpdate(BaseModel):
    """Only the fields sent are changed; quiet hours are site time, "HH:MM"."""

    model_config = ConfigDict(extra="forbid")

    wecom_userid: str | None = Field(default=None, max_length=64)
    wecom_enabled: bool | None = None
    email_enabled: bool | None = None
    digest_enabled: bool | None = None
    quiet_hours_enabled: bool | None = None
    quiet_start: str | None = Field(default=None, pattern=CLOCK_PATTERN)
    quiet_end: str | None = Field(default=None, pattern=CLOCK_PATTERN)

    @field_validator(
        "wecom_enabled", "email_enabled", "digest_enabled", "quiet_hours_enabled", mode="before"
    )
    @classmethod
    def _switch_sent_as_null(cls, value: object) -> object:
        # None only stands for "not sent"; a switch sent as null is neither on nor off.
        if value is None:
            raise ValueError("Must be true or false")
        return value


@router.get("", response_model=NotificationPreferencePublic)
def get_mine(session: SessionDep, user: CurrentUser) -> NotificationPreferencePublic:
    """Show how and when I am notified."""
    return NotificationPreferencePublic.model_validate(preference_of(session, user))


@router.patch("", response_model=NotificationPreferencePublic)
def update_mine(
    body: NotificationPreferenceUpdate, session: SessionDep, user: CurrentUser, clock: ClockDep
) -> NotificationPreferencePublic:
    """Change how and when I am notified."""
    changes = body.model_dump(exclude_unset=True)
    preference = update_preference(session, user, changes, clock())
    return NotificationPreferencePublic.model_validate(preference)
