"""The resignation timetable: when the account closes, when each step is due, when to follow up.

The account of a leaver closes when their last working day ends (24:00 site time: front-desk
staff may work a late shift on it). The follow-up evaluation opens when service starts on the
first working day on or after `follow_up_days` calendar days past the last working day.
"""

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.calendar import Clock, WorkingCalendar, load_calendars
from rules.config_errors import RuleConfigError, problems_from

BUNDLED_POLICY = Path(__file__).with_name("resignation.yaml")
DEFAULT_FOLLOW_UP_DAYS = 30
# A follow-up period longer than half a year is no longer a follow-up of the handover.
MAX_FOLLOW_UP_DAYS = 183
ONE_DAY = timedelta(days=1)


class ResignationPolicy(BaseModel):
    """The timetable of the resignation process; defaults are the reviewed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    follow_up_days: int = Field(default=DEFAULT_FOLLOW_UP_DAYS, ge=1, le=MAX_FOLLOW_UP_DAYS)
    calendar: str = "day_shift"
    approval_working_days: int = Field(default=2, ge=1)
    inventory_working_days: int = Field(default=3, ge=1)
    confirmation_working_days: int = Field(default=2, ge=1)
    dispute_working_days: int = Field(default=2, ge=1)
    knowledge_session_working_days: int = Field(default=1, ge=1)
    evaluation_working_days: int = Field(default=5, ge=1)


@lru_cache
def load_policy(path: Path | None = None) -> ResignationPolicy:
    """Return the resignation policy from YAML (the bundled file by default), validated."""
    document = yaml.safe_load((path or BUNDLED_POLICY).read_text(encoding="utf-8")) or {}
    try:
        policy = ResignationPolicy.model_validate(document)
    except ValidationError as error:
        raise RuleConfigError(problems_from(error, "resignation")) from error
    if policy.calendar not in load_calendars():
        raise RuleConfigError([f"resignation.calendar: unknown calendar {policy.calendar!r}"])
    return policy


def policy_calendar(policy: ResignationPolicy) -> WorkingCalendar:
    """Return the working calendar the policy's due dates run on."""
    return load_calendars()[policy.calendar]


def offboard_at(calendar: WorkingCalendar, last_working_day: date) -> datetime:
    """Return when the leaver's account closes: midnight after the last working day (UTC)."""
    midnight = datetime.combine(last_working_day + ONE_DAY, time(), tzinfo=calendar.zone)
    return midnight.astimezone(UTC)


def follow_up_day(calendar: WorkingCalendar, last_working_day: date, follow_up_days: int) -> date:
    """Return the working day the follow-up evaluation opens on."""
    return calendar.nth_working_day(last_working_day + timedelta(days=follow_up_days), 1)


def follow_up_opens_at(
    calendar: WorkingCalendar, last_working_day: date, follow_up_days: int
) -> datetime:
    """Return when service starts on the follow-up day (UTC)."""
    day = follow_up_day(calendar, last_working_day, follow_up_days)
    return calendar.service_windows(day, Clock.WORKING_DAYS)[0][0]


def due_after(calendar: WorkingCalendar, start: datetime, working_days: int) -> datetime:
    """Return when service ends `working_days` working days after the day of `start`."""
    return calendar.add_working_days(start, working_days)
