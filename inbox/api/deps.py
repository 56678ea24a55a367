"""Typed dependencies: the request's transaction, the acting user, the clock."""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import User
from db.models.process_start import IDEMPOTENCY_KEY_MAX_CHARS
from db.session import reading, transaction
from domain.errors import NotAuthenticated
from domain.people import user_for_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_session() -> Iterator[Session]:
    """Frame the request in one transaction: committed if the handler returns, else rolled back."""
    with transaction() as session:
        yield session


def get_clock(request: Request) -> Callable[[], datetime]:
    """Return the app's clock (tests may install their own)."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock


# scope="function": commit before the response is sent, so a client never reads stale data.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]


def get_current_user(clock: ClockDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    """Return the user the bearer token belongs to, or refuse with 401."""
    if not token:
        raise NotAuthenticated("Log in first: send a bearer token")
    # Its own short read: a request-long transaction would hold SQLite's write lock while the
    # handlers' own transactions wait for it, and a read never queues behind a writer.
    with reading() as session:
        return user_for_token(session, token, clock())


CurrentUser = Annotated[User, Depends(get_current_user)]


# A client that may retry a start sends a key of its own choosing (a UUID); a repeat with the
# same key returns the process the first one started instead of recording another.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_CHARS,
        description="Repeat a start safely: the same key returns the first start's process",
    ),
]
