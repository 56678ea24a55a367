"""Transactions under concurrency: SQLite reads never queue for the write lock, and a transient
database error is told apart from a real one, so that a flow's task tries again."""

import importlib
import pkgutil
import threading
from collections.abc import Iterator

import psycopg.errors
import pytest
from prefect import Task
from prefect.states import Failed
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

import tasks
from config import get_settings
from db.models import Site, User
from db.session import SQLITE_BUSY_TIMEOUT_SECONDS, is_transient, reading, transaction
from tasks.retries import failed_transiently

ON_SQLITE = get_settings().database_url.startswith("sqlite")
sqlite_only = pytest.mark.skipif(not ON_SQLITE, reason="SQLite's locking")
# Far below the busy timeout: a read that waited for the writer would still be waiting.
READ_DEADLINE_SECONDS = 5


class Rollback(Exception):
    """Ends a test's write transaction without committing it."""


@pytest.fixture
def writer_holding_the_lock(demo_org: None) -> Iterator[None]:
    """Hold SQLite's write lock (an uncommitted write) for the test's duration."""
    with pytest.raises(Rollback), transaction() as session:
        session.execute(update(Site).values(name=Site.name + "（改）"))
        yield
        raise Rollback


@sqlite_only
def test_sqlite_runs_in_wal_with_a_busy_timeout(demo_org: None) -> None:
    with reading() as session:
        assert session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert session.scalar(text("PRAGMA busy_timeout")) == SQLITE_BUSY_TIMEOUT_SECONDS * 1000


@sqlite_only
def test_a_read_does_not_wait_for_a_writer(writer_holding_the_lock: None) -> None:
    seen: list[str] = []

    def read() -> None:
        with reading() as session:
            seen.extend(session.scalars(select(Site.name)))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(READ_DEADLINE_SECONDS)

    assert not reader.is_alive(), "the read waited for the writer's lock"
    assert seen and not any(name.endswith("（改）") for name in seen)  # the committed rows


@sqlite_only
def test_a_locked_database_is_transient_and_other_errors_are_not(
    writer_holding_the_lock: None,
) -> None:
    impatient = create_engine(get_settings().database_url, connect_args={"timeout": 0})
    try:
        with pytest.raises(OperationalError) as locked, impatient.connect() as connection:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        impatient.dispose()
    assert "database is locked" in str(locked.value)
    assert is_transient(locked.value)
    assert failed_transiently(None, None, Failed(data=locked.value))  # type: ignore[arg-type]


def test_a_broken_rule_is_not_transient(demo_org: None) -> None:
    with pytest.raises(IntegrityError) as broken, transaction() as session:
        first = session.scalars(select(User)).first()
        assert first is not None
        session.add(User(username=first.username, display_name="重名", password_hash="x"))
        session.flush()
    assert not is_transient(broken.value)
    assert not failed_transiently(None, None, Failed(data=broken.value))  # type: ignore[arg-type]
    assert not failed_transiently(None, None, Failed(data=ValueError("bad")))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("orig", "transient"),
    [
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.OperationalError("connection failed: Connection refused"), True),
        (psycopg.errors.UniqueViolation("duplicate key value"), False),
        (psycopg.errors.UndefinedTable('relation "x" does not exist'), False),
    ],
)
def test_postgresql_errors_that_a_new_attempt_overcomes(orig: Exception, transient: bool) -> None:
    # As SQLAlchemy wraps the driver's error when a statement fails.
    error = DBAPIError.instance("SELECT 1", {}, orig, psycopg.Error)
    assert is_transient(error) is transient


def test_every_task_tries_again_after_a_transient_database_error() -> None:
    found = {}
    for module_info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{module_info.name}")
        found.update({v.name: v for v in vars(module).values() if isinstance(v, Task)})
    assert len(found) > 50
    without = {
        name
        for name, task in found.items()
        if task.retry_condition_fn is not failed_transiently or task.retries < 3
    }
    # It calls Prefect and retries any failure of its own.
    assert without == {"start-training-plan-runs"}
    assert found["start-training-plan-runs"].retries == 3
