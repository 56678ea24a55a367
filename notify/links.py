"""Signed, expiring deep links to a task page; the page behind them still asks the reader to log in.

A link names its task and expiry under an HMAC (itsdangerous), so one forwarded from a group chat
cannot be edited to point at another task and stops working after `task_link_max_age_days`.
"""

from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from config import Settings, get_settings
from db.base import utcnow

# Separates these signatures from anything else signed with the same key.
TASK_LINK_SALT = "kefu-flow.task-link"
TASK_LINK_PATH = "/t/"


class InvalidTaskLink(ValueError):
    """The token was not signed by us, was altered, or has expired."""


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key.get_secret_value(), salt=TASK_LINK_SALT)


def sign_task_link(task_id: int, *, now: datetime, settings: Settings | None = None) -> str:
    """Return a signed token naming `task_id` that expires after the configured lifetime."""
    settings = settings or get_settings()
    expires = now + timedelta(days=settings.task_link_max_age_days)
    return _serializer(settings).dumps({"task": task_id, "exp": int(expires.timestamp())})


def verify_task_link(
    token: str, *, now: datetime | None = None, settings: Settings | None = None
) -> int:
    """Return the task id a link token names; raise InvalidTaskLink if forged or expired."""
    settings = settings or get_settings()
    try:
        payload = _serializer(settings).loads(token)
    except BadSignature:
        raise InvalidTaskLink("the task link is not valid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("task"), int):
        raise InvalidTaskLink("the task link is not valid")
    expires = datetime.fromtimestamp(int(payload.get("exp", 0)), tz=UTC)
    if (now or utcnow()) >= expires:
        raise InvalidTaskLink("the task link has expired")
    return int(payload["task"])


def task_link_url(task_id: int, *, now: datetime, settings: Settings | None = None) -> str:
    """Return the public address of a signed link to task `task_id`."""
    settings = settings or get_settings()
    token = sign_task_link(task_id, now=now, settings=settings)
    return f"{settings.public_base_url.rstrip('/')}{TASK_LINK_PATH}{token}"


def inbox_url(settings: Settings | None = None) -> str:
    """Return the public address of the task inbox (it asks for a login)."""
    settings = settings or get_settings()
    return f"{settings.public_base_url.rstrip('/')}/inbox"
