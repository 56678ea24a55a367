"""Log in with a username and password; receive a bearer token."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from config import get_settings
from inbox.api.deps import ClockDep
from inbox.api.schemas import Token
from inbox.sign_in import sign_in

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], clock: ClockDep) -> Token:
    """Exchange a username and password for a bearer token."""
    lifetime = timedelta(hours=get_settings().api_token_hours)
    now = clock()
    attempt, token = sign_in(form.username, form.password, now, lifetime)
    if attempt.refusal is not None:
        raise attempt.refusal
    return Token(access_token=token, expires_at=now + lifetime)
