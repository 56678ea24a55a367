"""Engine and session factory; callers frame transactions with `transaction()` or `reading()`."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings

# How long a SQLite writer waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Execution option of the engine that frames `reading()`: on SQLite its transactions begin
# deferred, so they read a WAL snapshot and never queue behind a writer.
READ_ONLY = "kefu_read_only"
# PostgreSQL errors that a new attempt of the same transaction can overcome (SQLSTATE):
# serialization failure, deadlock, and a connection the server shut down.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})


def make_engine(url: str) -> Engine:
    """Return an engine for `url`, with SQLite set up for concurrent readers and one writer."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # pysqlite's own transaction handling is off: `_sqlite_begin` says how each one begins.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A write transaction takes the write lock up front: one that read first and wrote later
    # would fail at once (SQLITE_BUSY_SNAPSHOT) if another writer committed in between, where
    # waiting its turn at BEGIN is safe. A read-only one needs no lock at all under WAL.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@lru_cache
def get_engine() -> Engine:
    """Return the process-wide engine for the configured database."""
    return make_engine(get_settings().database_url)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """Return the process-wide session factory for transactions that may write."""
    return sessionmaker(get_engine(), expire_on_commit=False)


@lru_cache
def get_reading_sessionmaker() -> sessionmaker[Session]:
    """Return the process-wide session factory for read-only transactions."""
    return sessionmaker(get_engine().execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@contextmanager
def transaction() -> Iterator[Session]:
    """Open a session, commit when the block ends, roll back if it raises."""
    with get_sessionmaker().begin() as session:
        yield session


@contextmanager
def reading() -> Iterator[Session]:
    """Open a session for reads only: on SQLite it never waits for, nor holds up, a writer."""
    with get_reading_sessionmaker().begin() as session:
        yield session


def is_transient(error: BaseException) -> bool:
    """Return whether a database error is one that trying the transaction again can overcome."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
        return True
    if not hasattr(error.orig, "sqlstate"):  # not psycopg: nothing more to learn
        return False
    sqlstate = error.orig.sqlstate
    # No SQLSTATE: psycopg could not reach the server. Class 08: the connection failed.
    return sqlstate is None or sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith("08")
