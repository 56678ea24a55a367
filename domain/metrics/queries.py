"""What the figures of several processes ask the database alike."""

from collections.abc import Collection

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.models import ProcessState, User

# Processes not closed yet; a "starting" one waits for its flow run but is already under way.
RUNNING_STATES = (ProcessState.STARTING, ProcessState.RUNNING)


def without_jit(session: Session) -> None:
    """Turn PostgreSQL's JIT compilation off for the rest of the transaction.

    The dashboard's big queries are thousands of index lookups, whose planned cost crosses the
    JIT threshold; compiling them takes 30–50 ms a query and saves nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def user_names(session: Session, user_ids: Collection[int]) -> dict[int, str]:
    """Return the display names of the users, by id."""
    if not user_ids:
        return {}
    return dict(
        session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()
    )
