"""Signing in, for the API's bearer token and the web page's session alike."""

from datetime import datetime, timedelta

from db.session import reading, transaction
from domain.people import LoginAttempt, check_password, issue_token, record_login


def sign_in(
    username: str, password: str, now: datetime, lifetime: timedelta
) -> tuple[LoginAttempt, str]:
    """Check a login, record it and, if it succeeded, issue a token (else an empty one).

    The password is checked in a read, before the write transaction: on SQLite a write
    transaction holds every other writer back, flow runs included, for as long as it lasts.
    """
    with reading() as session:
        check = check_password(session, username, password, now)
    with transaction() as session:
        attempt = record_login(session, check, now)
        token = issue_token(session, attempt.user, now, lifetime) if attempt.user else ""
    return attempt, token
