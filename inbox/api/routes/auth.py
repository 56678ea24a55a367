"""Log in with a username and password; receive a bearer token."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from config import get_settings
from db.session import transaction
from domain.people import authenticate, issue_token
from inbox.api.deps import ClockDep
from inbox.api.schemas import Token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], clock: ClockDep) -> Token:
    """Exchange a username and password for a bearer token."""
    lifetime = timedelta(hours=get_settings().api_token_hours)
    now = clock()
    with transaction() as session:
        attempt = authenticate(session, form.username, form.password, now)
        token = issue_token(session, attempt.user, now, lifetime) if attempt.user else ""
    if attempt.refusal is not None:
        raise attempt.refusal
    return Token(access_token=token, expires_at=now + lifetime)
