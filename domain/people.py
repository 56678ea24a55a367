"""People: password checks, API tokens, and looking users up for assignment."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pwdlib import PasswordHash
from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.orm import Session

from config import get_settings
from config.settings import DEMO_PASSWORD
from db.base import UTCDateTime
from db.models import ApiToken, Role, User, UserRole
from domain.errors import AccountLocked, DomainError, Forbidden, NotAuthenticated, NotFound

password_hasher = PasswordHash.recommended()
# Verifying against a fixed hash when the user is unknown keeps the response time the same,
# so timing does not reveal which usernames exist.
_UNKNOWN_USER_HASH = password_hasher.hash("kefu-flow-unknown-user")


def hash_password(password: str) -> str:
    """Return the Argon2 hash of `password`."""
    return password_hasher.hash(password)


@dataclass(frozen=True)
class Lockout:
    """How many wrong passwords in a row lock an account, and for how long."""

    max_failures: int = 5
    duration: timedelta = timedelta(minutes=15)


LOCKOUT = Lockout()

# Passwords anyone can look up: the demo's, and the ten-character-or-longer entries at the top of
# the published common-password lists (Chinese sites' included). Never set; in production, never
# accepted at login either, so a database the demo seeded cannot be entered with them.
PUBLISHED_PASSWORDS = frozenset(
    {
        DEMO_PASSWORD,
        "1234567890",
        "0123456789",
        "12345678910",
        "123456789a",
        "a123456789",
        "qwertyuiop",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "qwerty123456",
        "password123",
        "password1234",
        "admin123456",
        "abc1234567",
        "woaini1314",
        "5201314520",
        "iloveyou1314",
    }
)


def is_published_password(password: str) -> bool:
    """Return whether `password` is on a published list (letter case does not help)."""
    return password.lower() in PUBLISHED_PASSWORDS


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of a login: the user, or the refusal to raise once the attempt is recorded."""

    user: User | None
    refusal: DomainError | None = None


class PasswordVerdict(StrEnum):
    """What the password check found, before anything about the attempt is written."""

    UNKNOWN_USER = "unknown_user"
    LOCKED = "locked"
    WRONG = "wrong"  # a wrong password, or a disabled account
    PUBLISHED = "published"  # right, but on a published list while in production
    RIGHT = "right"


@dataclass(frozen=True)
class PasswordCheck:
    """A login's password checked against the account: whose, and the verdict."""

    user_id: int | None
    verdict: PasswordVerdict


def check_password(session: Session, username: str, password: str, now: datetime) -> PasswordCheck:
    """Check a login's password; only reads, so it may run outside the write transaction.

    The hash check is the slow part of a login (about 0.1 s of CPU, seconds under load): on
    SQLite, doing it inside a write transaction held every other writer back for that long.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        password_hasher.verify(password, _UNKNOWN_USER_HASH)
        return PasswordCheck(None, PasswordVerdict.UNKNOWN_USER)
    if user.locked_until is not None and user.locked_until > now:
        return PasswordCheck(user.id, PasswordVerdict.LOCKED)
    if not password_hasher.verify(password, user.password_hash) or not user.active:
        return PasswordCheck(user.id, PasswordVerdict.WRONG)
    if get_settings().environment == "production" and is_published_password(password):
        return PasswordCheck(user.id, PasswordVerdict.PUBLISHED)
    return PasswordCheck(user.id, PasswordVerdict.RIGHT)


def record_login(
    session: Session, check: PasswordCheck, now: datetime, policy: Lockout = LOCKOUT
) -> LoginAttempt:
    """Record a checked login (count a failure, or clear the count); the caller commits, then
    raises any refusal.

    Returning the refusal instead of raising it keeps the failure count: a raise would roll
    back the very transaction that counts the wrong password.
    """
    match check.verdict:
        case PasswordVerdict.UNKNOWN_USER:
            return LoginAttempt(None, NotAuthenticated("Wrong username or password"))
        case PasswordVerdict.LOCKED:
            return LoginAttempt(None, _locked(policy))
        case PasswordVerdict.WRONG:
            assert check.user_id is not None
            _count_failure(session, check.user_id, now, policy)
            return LoginAttempt(None, NotAuthenticated("Wrong username or password"))
        case PasswordVerdict.PUBLISHED:
            return LoginAttempt(
                None, Forbidden("This password is published: ask an admin to set a new one")
            )
    assert check.user_id is not None
    # A parallel attempt may have locked the account since the check.
    if not _clear_failures(session, check.user_id, now):
        return LoginAttempt(None, _locked(policy))
    return LoginAttempt(session.get_one(User, check.user_id))


def authenticate(
    session: Session, username: str, password: str, now: datetime, policy: Lockout = LOCKOUT
) -> LoginAttempt:
    """Check a login and record the attempt in one session (see `check_password`)."""
    return record_login(session, check_password(session, username, password, now), now, policy)


def _locked(policy: Lockout) -> AccountLocked:
    return AccountLocked(
        "Too many wrong passwords: the account is locked for {minutes} minutes",
        minutes=int(policy.duration.total_seconds() // 60),
    )


def _count_failure(session: Session, user_id: int, now: datetime, policy: Lockout) -> None:
    """Count a wrong password in one UPDATE, locking the account at the limit.

    The database adds to the stored count: parallel attempts that each read the count first
    and wrote it back plus one would overwrite each other, and the account would never lock.
    """
    failures = User.failed_logins + 1
    limit_reached = failures >= policy.max_failures
    # Typed, so that it is stored in UTC like every timestamp (a CASE does not infer the type).
    until = literal(now + policy.duration, UTCDateTime())
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            failed_logins=case((limit_reached, 0), else_=failures),
            locked_until=case((limit_reached, until), else_=User.locked_until),
        )
        .execution_options(synchronize_session="fetch")
    )


def _clear_failures(session: Session, user_id: int, now: datetime) -> bool:
    """Reset the failure count unless a parallel attempt locked the account meanwhile."""
    cleared = session.execute(
        update(User)
        .where(User.id == user_id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session="fetch")
    )
    return cleared.rowcount == 1


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, now: datetime, lifetime: timedelta) -> str:
    """Create a bearer token for `user`; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_digest=_digest(token), expires_at=now + lifetime))
    return token


def user_for_token(session: Session, token: str, now: datetime) -> User:
    """Return the active user a bearer token belongs to, or raise NotAuthenticated."""
    api_token = session.scalar(select(ApiToken).where(ApiToken.token_digest == _digest(token)))
    if api_token is None or api_token.revoked or api_token.expires_at <= now:
        raise NotAuthenticated("The token is missing, expired or revoked")
    if not api_token.user.active:
        raise NotAuthenticated("This account is disabled")
    return api_token.user


def token_owner_id(session: Session, token: str) -> int | None:
    """Return the id of the person `token` was issued to, even if it expired or was revoked."""
    return session.scalar(select(ApiToken.user_id).where(ApiToken.token_digest == _digest(token)))


def revoke_token(session: Session, token: str) -> None:
    """Revoke one bearer token (a browser's logout leaves the person's other logins alone)."""
    session.execute(
        update(ApiToken).where(ApiToken.token_digest == _digest(token)).values(revoked=True)
    )


def revoke_tokens(session: Session, user: User) -> None:
    """Revoke every token of `user` (on logout or when the account is disabled)."""
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))


def get_user(session: Session, user_id: int) -> User:
    """Return the user with `user_id`, or raise NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User {user_id} does not exist", user_id=user_id)
    return user


def users_with_role(session: Session, site_id: int, role: Role) -> list[User]:
    """Return the active users at `site_id` who hold `role`."""
    return list(
        session.scalars(
            select(User)
            .join(UserRole)
            .where(User.site_id == site_id, User.active, UserRole.role == role)
            .order_by(User.id)
        )
    )


def colleagues(session: Session, site_id: int) -> list[User]:
    """Return the active people of a site, by name, for choosing whom to hand work to."""
    return list(
        session.scalars(
            select(User).where(User.site_id == site_id, User.active).order_by(User.display_name)
        )
    )
