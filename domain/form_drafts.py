"""Forms posted after a login session ended: kept server-side, given back once to their author."""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete
from sqlalchemy.orm import Session

from db.models import FormDraft

# Bytes of randomness in a draft's key (43 URL-safe characters): the key is the only way in.
DRAFT_KEY_BYTES = 32


class DraftLookup(NamedTuple):
    """What a page found under a browser's draft key."""

    # The posted (name, value) pairs, or None if nothing is given back here.
    fields: list[tuple[str, str]] | None
    # True when the draft is gone (given back, expired, another person's or never there), so the
    # browser should forget its key; False when it waits for its own page.
    spent: bool


def keep_form_draft(
    session: Session,
    page: str,
    fields: Sequence[tuple[str, str]],
    user_id: int | None,
    now: datetime,
    lifetime: timedelta,
) -> str:
    """Store what was posted to `page` and return the draft's random key; drafts that have
    expired are deleted on the way, so the table holds only live ones."""
    session.execute(delete(FormDraft).where(FormDraft.expires_at <= now))
    key = secrets.token_urlsafe(DRAFT_KEY_BYTES)
    session.add(
        FormDraft(
            key=key,
            page=page,
            user_id=user_id,
            fields=[[name, value] for name, value in fields],
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return key


def drop_form_draft(session: Session, key: str) -> None:
    """Delete the draft `key` (replaced by a newer one from the same browser)."""
    session.execute(delete(FormDraft).where(FormDraft.key == key))


def take_form_draft(
    session: Session, key: str, page: str, user_id: int, now: datetime
) -> DraftLookup:
    """Return, once, the fields of draft `key` for `page` to the person who typed them; an
    expired draft or another person's is deleted unread."""
    draft = session.get(FormDraft, key)
    if draft is None:
        return DraftLookup(None, spent=True)
    if draft.page != page:
        return DraftLookup(None, spent=False)
    session.delete(draft)
    session.flush()
    # A draft whose session no longer named its author (the cookie itself had lapsed) belongs to
    # this browser only; the key was never anywhere else.
    foreign = draft.user_id is not None and draft.user_id != user_id
    if foreign or draft.expires_at <= now:
        return DraftLookup(None, spent=True)
    return DraftLookup([(name, value) for name, value in draft.fields], spent=True)
