"""INSERT … ON CONFLICT DO NOTHING on the dialects kefu-flow runs: rows keyed against replays."""

from collections.abc import Sequence

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from db.base import Base

# Both production (PostgreSQL) and the default install (SQLite) run these; the tests run both.
_INSERT_BY_DIALECT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def insert_ignoring_duplicates(
    session: Session, into: type[Base] | Table, conflict_on: Sequence[InstrumentedAttribute[object]]
) -> Insert:
    """Return an INSERT into `into` that skips each row whose `conflict_on` columns are taken.

    Race-safe where a look-up before the insert is not: a concurrent writer of the same key
    makes this one wait and then skip the row, instead of failing the whole transaction.
    """
    dialect = session.get_bind().dialect.name
    try:
        insert = _INSERT_BY_DIALECT[dialect]
    except KeyError:
        raise NotImplementedError(f"no idempotent insert for dialect {dialect!r}") from None
    return insert(into).on_conflict_do_nothing(index_elements=list(conflict_on))
