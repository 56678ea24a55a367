"""Log in with a username and password; receive a bearer token."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from config import get_settings
from domain.people import authenticate, issue_token
from inbox.api.deps import ClockDep, SessionDep
from inbox.api.schemas import Token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, clock: ClockDep
) -> Token:
    """Exchange a username and password for a bearer token."""
    user = authenticate(session, form.username, form.password)
    lifetime = timedelta(hours=get_settings().api_token_hours)
    now = clock()
    token = issue_token(session, user, now, lifetime)
    return Token(access_token=token, expires_at=now + lifetime)
