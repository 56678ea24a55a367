"""Administration by ops admins: people, their roles and channel addresses, sites, and the rules.

Every function checks that the actor is an ops admin, refuses bad input field by field (English
msgids), and records each write as one AdminChange with the values before and after — never a
password or its hash. They take the caller's session and never commit.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.base import Base
from db.models import (
    AdminAction,
    AdminChange,
    AdminEntity,
    GroupBot,
    NotificationPreference,
    Role,
    Site,
    User,
    UserRole,
)
from domain import people
from domain.calendars import calendar_book
from domain.errors import FieldProblem, Forbidden, Invalid
from domain.sla import sla_book
from notify.preferences import preference_of, update_preference
from rules.calendar import BUNDLED_CALENDARS, TRIAL_START, WorkingCalendar
from rules.sla import BUNDLED_LADDERS, TRIAL_STARTS, SlaBook

USERNAME_MIN_CHARS = 3
USERNAME_MAX_CHARS = 64  # the column's width
USERNAME_PATTERN = re.compile(rf"^[a-z0-9._-]{{{USERNAME_MIN_CHARS},{USERNAME_MAX_CHARS}}}$")
DISPLAY_NAME_MAX_CHARS = 100
EMAIL_MAX_CHARS = 255
# Enough to catch a typo; whether the mailbox exists only a delivery can tell.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_CHARS = 10
# Hashing is deliberately slow; a megabyte "password" should not cost a request that much.
MAX_PASSWORD_CHARS = 256
SITE_CODE_MAX_CHARS = 32
SITE_CODE_PATTERN = re.compile(rf"^[a-z0-9-]{{1,{SITE_CODE_MAX_CHARS}}}$")
SITE_NAME_MAX_CHARS = 100
# WeCom's own rule for a member's account id: letters, digits and _-.@, starting alphanumeric.
WECOM_USERID_MAX_CHARS = 64  # the column's width, and WeCom's limit
WECOM_USERID_PATTERN = re.compile(
    rf"^[A-Za-z0-9][A-Za-z0-9_.@-]{{0,{WECOM_USERID_MAX_CHARS - 1}}}$"
)
RECENT_CHANGES = 50


def require_ops_admin(actor: User) -> None:
    """Refuse anyone who is not an operations admin."""
    if not actor.has_role(Role.OPS_ADMIN):
        raise Forbidden("Only operations admins can manage users, sites and rules")


def is_locked(user: User, now: datetime) -> bool:
    """Return whether repeated wrong passwords keep `user` from logging in at `now`."""
    return user.locked_until is not None and user.locked_until > now


@lru_cache
def known_timezones() -> frozenset[str]:
    """Return the IANA time zone names this server's zoneinfo knows."""
    # Membership, not ZoneInfo(name): "Asia" alone would open a directory and raise OSError.
    return frozenset(available_timezones())


# --- reading -------------------------------------------------------------------------------


def list_users(session: Session, actor: User, site_id: int | None = None) -> list[User]:
    """Return every user (or those of one site), by site and username."""
    require_ops_admin(actor)
    query = select(User).order_by(User.site_id, User.username)
    if site_id is not None:
        query = query.where(User.site_id == site_id)
    return list(session.scalars(query))


def get_user(session: Session, actor: User, user_id: int) -> User:
    """Return the user with `user_id` for editing, or raise NotFound."""
    require_ops_admin(actor)
    return people.get_user(session, user_id)


def list_sites(session: Session, actor: User) -> list[Site]:
    """Return every site by code."""
    require_ops_admin(actor)
    return list(session.scalars(select(Site).order_by(Site.code)))


def active_user_counts(session: Session, actor: User) -> dict[int, int]:
    """Return how many active users each site has, by site id (sites with none are absent)."""
    require_ops_admin(actor)
    rows = session.execute(
        select(User.site_id, func.count()).where(User.active).group_by(User.site_id)
    )
    return {site_id: int(count) for site_id, count in rows.tuples()}


def list_group_bots(session: Session, actor: User) -> list[GroupBot]:
    """Return the WeCom group bots of every site, by site and name."""
    require_ops_admin(actor)
    return list(session.scalars(select(GroupBot).order_by(GroupBot.site_id, GroupBot.name)))


def channels_of(session: Session, actor: User, user: User) -> NotificationPreference:
    """Return `user`'s channel settings, or the unsaved defaults if they have none."""
    require_ops_admin(actor)
    return preference_of(session, user)


def recent_changes(
    session: Session, limit: int = RECENT_CHANGES, *, about_user: int | None = None
) -> list[AdminChange]:
    """Return the newest admin changes, or those about one user (the account and its channels)."""
    query = select(AdminChange).order_by(AdminChange.id.desc()).limit(limit)
    if about_user is not None:
        query = query.where(
            AdminChange.entity.in_([AdminEntity.USER, AdminEntity.PREFERENCE]),
            AdminChange.entity_id == about_user,
        )
    return list(session.scalars(query))


@dataclass(frozen=True)
class RulesInForce:
    """The working calendars and SLA ladders this process loaded, and the files they came from."""

    calendars: Mapping[str, WorkingCalendar]
    site_calendars: Mapping[str, Mapping[str, WorkingCalendar]]
    calendars_path: Path
    calendar_trial_start: datetime
    book: SlaBook
    ladders_path: Path
    ladder_trial_starts: tuple[datetime, ...]


def rules_in_force(actor: User) -> RulesInForce:
    """Return the calendars and ladders in force (validated on load with a trial calculation)."""
    require_ops_admin(actor)
    return RulesInForce(
        calendars=calendar_book().shared,
        site_calendars=calendar_book().by_site,
        calendars_path=BUNDLED_CALENDARS,
        calendar_trial_start=TRIAL_START,
        book=sla_book(),
        ladders_path=BUNDLED_LADDERS,
        ladder_trial_starts=TRIAL_STARTS,
    )


# --- checking input ------------------------------------------------------------------------


def _problem(field: str, message: str, **params: Any) -> FieldProblem:
    return FieldProblem((field,), message, params)


def _refuse_if(problems: list[FieldProblem]) -> None:
    """Raise every problem found at once, so the form shows each field's error together."""
    if problems:
        raise Invalid(problems)


def _display_name(value: str, problems: list[FieldProblem]) -> str:
    text = value.strip()
    if not text:
        problems.append(_problem("display_name", "A display name is required"))
    elif len(text) > DISPLAY_NAME_MAX_CHARS:
        problems.append(
            _problem(
                "display_name",
                "Must be at most {max_length} characters",
                max_length=DISPLAY_NAME_MAX_CHARS,
            )
        )
    return text


def _email(value: str | None, problems: list[FieldProblem]) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > EMAIL_MAX_CHARS or not EMAIL_PATTERN.fullmatch(text):
        problems.append(_problem("email", "Not a valid email address"))
    return text


def _site(session: Session, site_id: int | None, problems: list[FieldProblem]) -> Site | None:
    site = session.get(Site, site_id) if site_id is not None else None
    if site is None:
        problems.append(_problem("site_id", "Choose an existing site"))
    return site


def _roles(values: Iterable[str], problems: list[FieldProblem]) -> list[Role]:
    chosen = set()
    for value in values:
        try:
            chosen.add(Role(value))
        except ValueError:
            expected = ", ".join(Role)
            problems.append(_problem("roles", "Must be one of: {expected}", expected=expected))
            return []
    if not chosen:
        problems.append(_problem("roles", "Choose at least one role"))
    return [role for role in Role if role in chosen]


def _password(value: str, field: str, problems: list[FieldProblem]) -> str:
    if len(value) < MIN_PASSWORD_CHARS:
        problems.append(
            _problem(
                field,
                "The password must be at least {min_chars} characters",
                min_chars=MIN_PASSWORD_CHARS,
            )
        )
    elif len(value) > MAX_PASSWORD_CHARS:
        problems.append(
            _problem(
                field,
                "The password can be at most {max_chars} characters",
                max_chars=MAX_PASSWORD_CHARS,
            )
        )
    elif people.is_published_password(value):
        problems.append(_problem(field, "This password is on a published list: choose another"))
    return value


def _insert_unique(session: Session, row: Base, field: str, message: str) -> None:
    """Add `row`; losing a race for its unique value is refused like a value already taken."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Invalid.field(field, message) from None


def _record(
    session: Session,
    actor: User,
    entity: AdminEntity,
    entity_id: int,
    action: AdminAction,
    data: dict[str, Any],
    now: datetime,
) -> AdminChange:
    change = AdminChange(
        actor_id=actor.id, at=now, entity=entity, entity_id=entity_id, action=action, data=data
    )
    session.add(change)
    session.flush()
    return change


def _account(user: User) -> dict[str, Any]:
    """Return what the admin pages change about an account, as JSON (no password hash)."""
    held = {r.role for r in user.roles}
    return {
        "display_name": user.display_name,
        "email": user.email,
        "site_id": user.site_id,
        "roles": [str(role) for role in Role if role in held],
        "active": user.active,
    }


def _difference(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    changed = [name for name in after if before.get(name) != after[name]]
    return {
        "before": {name: before.get(name) for name in changed},
        "after": {name: after[name] for name in changed},
    }


# --- people --------------------------------------------------------------------------------


def create_user(
    session: Session,
    actor: User,
    *,
    username: str,
    display_name: str,
    password: str,
    site_id: int | None,
    roles: Iterable[str],
    email: str | None,
    now: datetime,
) -> User:
    """Create an active account with its roles and return it."""
    require_ops_admin(actor)
    problems: list[FieldProblem] = []
    name = username.strip()
    if not USERNAME_PATTERN.fullmatch(name):
        problems.append(
            _problem(
                "username",
                "Use {min_chars} to {max_chars} lower-case letters, digits, dots, underscores"
                " or hyphens",
                min_chars=USERNAME_MIN_CHARS,
                max_chars=USERNAME_MAX_CHARS,
            )
        )
    elif session.scalar(select(User.id).where(User.username == name)) is not None:
        problems.append(_problem("username", "This username is taken"))
    shown_name = _display_name(display_name, problems)
    address = _email(email, problems)
    site = _site(session, site_id, problems)
    chosen = _roles(roles, problems)
    _password(password, "password", problems)
    _refuse_if(problems)
    assert site is not None
    user = User(
        username=name,
        display_name=shown_name,
        password_hash=people.hash_password(password),
        site_id=site.id,
        email=address,
        active=True,
        created_at=now,
    )
    user.roles = [UserRole(role=role) for role in chosen]
    _insert_unique(session, user, "username", "This username is taken")
    _record(
        session, actor, AdminEntity.USER, user.id, AdminAction.USER_CREATED,
        {"username": user.username, "after": _account(user)}, now,
    )  # fmt: skip
    return user


def update_user(
    session: Session,
    actor: User,
    user_id: int,
    display_name: str,
    email: str | None,
    site_id: int | None,
    roles: Iterable[str],
    active: bool,
    now: datetime,
) -> User:
    """Change an account's name, email, site, roles or active state; return it.

    Deactivating ends every login of the person at once. An admin cannot deactivate themselves
    or give up their own ops admin role, so the department is never left without one by mistake.
    """
    require_ops_admin(actor)
    user = people.get_user(session, user_id)
    problems: list[FieldProblem] = []
    shown_name = _display_name(display_name, problems)
    address = _email(email, problems)
    site = _site(session, site_id, problems)
    chosen = _roles(roles, problems)
    if user.id == actor.id and not active:
        problems.append(_problem("active", "You cannot deactivate your own account"))
    if user.id == actor.id and chosen and Role.OPS_ADMIN not in chosen:
        problems.append(_problem("roles", "You cannot take the ops admin role from yourself"))
    _refuse_if(problems)
    assert site is not None
    before = _account(user)
    user.display_name, user.email, user.site_id, user.active = shown_name, address, site.id, active
    # Roles kept keep their rows: re-inserting one before its delete is flushed would break the
    # (user_id, role) unique key.
    held = {r.role for r in user.roles}
    user.roles = [r for r in user.roles if r.role in chosen] + [
        UserRole(role=role) for role in chosen if role not in held
    ]
    session.flush()
    after = _account(user)
    if before == after:
        return user
    if before["active"] and not active:
        people.revoke_tokens(session, user)
        action = AdminAction.DEACTIVATED
    elif active and not before["active"]:
        action = AdminAction.REACTIVATED
    elif before["roles"] != after["roles"]:
        action = AdminAction.ROLES_CHANGED
    else:
        action = AdminAction.USER_UPDATED
    data = {"username": user.username, **_difference(before, after)}
    _record(session, actor, AdminEntity.USER, user.id, action, data, now)
    return user


def reset_password(
    session: Session, actor: User, user_id: int, new_password: str, now: datetime
) -> User:
    """Set a new password for a person, lift any lockout, and end their other logins."""
    require_ops_admin(actor)
    user = people.get_user(session, user_id)
    problems: list[FieldProblem] = []
    _password(new_password, "new_password", problems)
    _refuse_if(problems)
    was_locked = is_locked(user, now)
    user.password_hash = people.hash_password(new_password)
    user.failed_logins, user.locked_until = 0, None
    # Whoever knew the old password (the reason for many resets) is logged out with it.
    people.revoke_tokens(session, user)
    _record(
        session, actor, AdminEntity.USER, user.id, AdminAction.PASSWORD_RESET,
        {"username": user.username, "was_locked": was_locked}, now,
    )  # fmt: skip
    return user


def unlock(session: Session, actor: User, user_id: int, now: datetime) -> User:
    """Clear a person's wrong-password count and lockout; return them (unchanged if clear)."""
    require_ops_admin(actor)
    user = people.get_user(session, user_id)
    if user.failed_logins == 0 and user.locked_until is None:
        return user
    before = {
        "failed_logins": user.failed_logins,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
    }
    user.failed_logins, user.locked_until = 0, None
    _record(
        session, actor, AdminEntity.USER, user.id, AdminAction.UNLOCKED,
        {"username": user.username, "before": before}, now,
    )  # fmt: skip
    return user


def set_channels(
    session: Session,
    actor: User,
    user_id: int,
    wecom_userid: str | None,
    email_enabled: bool,
    wecom_enabled: bool,
    now: datetime,
) -> NotificationPreference:
    """Set a person's WeCom userid and which channels reach them; return their preferences."""
    require_ops_admin(actor)
    user = people.get_user(session, user_id)
    address = (wecom_userid or "").strip() or None
    if address is not None and not WECOM_USERID_PATTERN.fullmatch(address):
        raise Invalid.field(
            "wecom_userid",
            "A WeCom userid is 1 to {max_chars} letters, digits or _ - . @, starting with a letter"
            " or digit",
            max_chars=WECOM_USERID_MAX_CHARS,
        )
    if address is not None:
        # Two people on one WeCom account would each get the other's tasks.
        holder = session.scalar(
            select(User)
            .join(NotificationPreference, NotificationPreference.user_id == User.id)
            .where(NotificationPreference.wecom_userid == address, User.id != user.id)
        )
        if holder is not None:
            raise Invalid.field(
                "wecom_userid",
                "This WeCom userid already belongs to {holder}",
                holder=holder.display_name,
            )
    preference = preference_of(session, user)
    before = {
        "wecom_userid": preference.wecom_userid,
        "email_enabled": preference.email_enabled,
        "wecom_enabled": preference.wecom_enabled,
    }
    after = {
        "wecom_userid": address,
        "email_enabled": email_enabled,
        "wecom_enabled": wecom_enabled,
    }
    if before == after:
        return preference
    preference = update_preference(session, user, after, now)
    data = {"username": user.username, **_difference(before, after)}
    _record(
        session, actor, AdminEntity.PREFERENCE, user.id, AdminAction.CHANNELS_CHANGED, data, now
    )
    return preference


# --- sites ---------------------------------------------------------------------------------


def create_site(
    session: Session, actor: User, code: str, name: str, timezone: str, now: datetime
) -> Site:
    """Create a site (管理处) and return it."""
    require_ops_admin(actor)
    problems: list[FieldProblem] = []
    site_code = code.strip()
    if not SITE_CODE_PATTERN.fullmatch(site_code):
        problems.append(
            _problem(
                "code",
                "Use lower-case letters, digits and hyphens, at most {max_chars}",
                max_chars=SITE_CODE_MAX_CHARS,
            )
        )
    elif session.scalar(select(Site.id).where(Site.code == site_code)) is not None:
        problems.append(_problem("code", "This site code is taken"))
    site_name = name.strip()
    if not site_name:
        problems.append(_problem("name", "A name is required"))
    elif len(site_name) > SITE_NAME_MAX_CHARS:
        problems.append(
            _problem(
                "name", "Must be at most {max_length} characters", max_length=SITE_NAME_MAX_CHARS
            )
        )
    zone = timezone.strip()
    if zone not in known_timezones():
        problems.append(_problem("timezone", "Not a known time zone, e.g. Asia/Shanghai"))
    _refuse_if(problems)
    site = Site(code=site_code, name=site_name, timezone=zone)
    _insert_unique(session, site, "code", "This site code is taken")
    _record(
        session, actor, AdminEntity.SITE, site.id, AdminAction.SITE_CREATED,
        {"after": {"code": site.code, "name": site.name, "timezone": site.timezone}}, now,
    )  # fmt: skip
    return site
