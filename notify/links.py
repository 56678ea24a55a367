"""Signed, expiring deep links to a task page or a case page; the page still asks for a login.

A link names its task (or, for news about a whole case, its process) and expiry under an HMAC
(itsdangerous), so one forwarded from a group chat cannot be edited to point elsewhere and stops
working after `task_link_max_age_days`.
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


# What a token may name, and the page of each.
PAGES = {"task": "/tasks/{}", "process": "/processes/{}"}


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key.get_secret_value(), salt=TASK_LINK_SALT)


def _sign(kind: str, target: int | str, now: datetime, settings: Settings | None) -> str:
    settings = settings or get_settings()
    expires = now + timedelta(days=settings.task_link_max_age_days)
    return _serializer(settings).dumps({kind: target, "exp": int(expires.timestamp())})


def sign_task_link(task_id: int, *, now: datetime, settings: Settings | None = None) -> str:
    """Return a signed token naming `task_id` that expires after the configured lifetime."""
    return _sign("task", task_id, now, settings)


def sign_process_link(process_id: str, *, now: datetime, settings: Settings | None = None) -> str:
    """Return a signed token naming the case `process_id`, with the same lifetime."""
    return _sign("process", process_id, now, settings)


def verify_link(
    token: str, *, now: datetime | None = None, settings: Settings | None = None
) -> str:
    """Return the page a token names ("/tasks/42"); raise InvalidTaskLink if forged or expired."""
    settings = settings or get_settings()
    try:
        payload = _serializer(settings).loads(token)
    except BadSignature:
        raise InvalidTaskLink("the task link is not valid") from None
    named = [kind for kind in PAGES if isinstance(payload, dict) and kind in payload]
    if len(named) != 1 or not isinstance(payload[named[0]], int | str):
        raise InvalidTaskLink("the task link is not valid")
    expires = datetime.fromtimestamp(int(payload.get("exp", 0)), tz=UTC)
    if (now or utcnow()) >= expires:
        raise InvalidTaskLink("the task link has expired")
    return PAGES[named[0]].format(payload[named[0]])


def _public(token: str, settings: Settings | None) -> str:
    settings = settings or get_settings()
    return f"{settings.public_base_url.rstrip('/')}{TASK_LINK_PATH}{token}"


def task_link_url(task_id: int, *, now: datetime, settings: Settings | None = None) -> str:
    """Return the public address of a signed link to task `task_id`."""
    return _public(sign_task_link(task_id, now=now, settings=settings), settings)


def process_link_url(process_id: str, *, now: datetime, settings: Settings | None = None) -> str:
    """Return the public address of a signed link to the case page of `process_id`."""
    return _public(sign_process_link(process_id, now=now, settings=settings), settings)


def inbox_url(settings: Settings | None = None) -> str:
    """Return the public address of the task inbox (it asks for a login)."""
    settings = settings or get_settings()
    return f"{settings.public_base_url.rstrip('/')}/inbox"
