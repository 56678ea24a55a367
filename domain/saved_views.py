"""Saved views: a person's named inbox filters, kept as a query string of known keys."""

from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import SavedView, User
from domain.errors import Invalid, NotFound

# The inbox's filter parameters; anything else in a saved query (paging, tokens) is dropped.
ALLOWED_KEYS = frozenset({"view", "process", "urgency", "due", "q", "site"})
# The columns' widths.
MAX_NAME_CHARS = 50
MAX_QUERY_CHARS = 500


def save_view(session: Session, user: User, name: str, query: str, now: datetime) -> SavedView:
    """Save `user`'s filter under `name`, replacing their view of that name; return it."""
    label = name.strip()
    if not label:
        raise Invalid.field("name", "Give the view a name")
    if len(label) > MAX_NAME_CHARS:
        raise Invalid.field(
            "name", "A view's name can be at most {max_chars} characters", max_chars=MAX_NAME_CHARS
        )
    kept = clean_query(query)
    if len(kept) > MAX_QUERY_CHARS:
        raise Invalid.field("query", "This filter is too long to save")
    view = _view_named(session, user.id, label)
    if view is None:
        try:
            # A savepoint, so that a double-click saving the same name twice at once costs
            # only this insert: the loser updates the winner's row below.
            with session.begin_nested():
                view = SavedView(user_id=user.id, name=label, query=kept, created_at=now)
                session.add(view)
            return view
        except IntegrityError:
            view = _view_named(session, user.id, label)
            if view is None:
                raise
    view.query = kept
    session.flush()
    return view


def clean_query(query: str) -> str:
    """Return `query` with only the inbox's filter keys and no empty values, in the same order."""
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    return urlencode([(key, value) for key, value in pairs if key in ALLOWED_KEYS])


def delete_view(session: Session, user: User, view_id: int) -> None:
    """Delete one of `user`'s own saved views; another person's does not exist for them."""
    view = session.get(SavedView, view_id)
    if view is None or view.user_id != user.id:
        raise NotFound("Saved view {view_id} does not exist", view_id=view_id)
    session.delete(view)
    session.flush()


def views_for(session: Session, user: User) -> list[SavedView]:
    """Return `user`'s saved views in the order they were first saved."""
    return list(
        session.scalars(
            select(SavedView)
            .where(SavedView.user_id == user.id)
            .order_by(SavedView.created_at, SavedView.id)
        )
    )


def _view_named(session: Session, user_id: int, name: str) -> SavedView | None:
    return session.scalar(
        select(SavedView).where(SavedView.user_id == user_id, SavedView.name == name)
    )
