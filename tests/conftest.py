"""Test set-up: a fresh database per run (SQLite, or PostgreSQL when asked), and for the
end-to-end tests one real Prefect server, a runner serving prefect.yaml, the inbox API and a
local SMTP server, shared by the whole session.

KEFU_TEST_POSTGRES_URL=postgresql+psycopg://root@127.0.0.1:5432/test runs on PostgreSQL:
a database of its own is created for the run and dropped afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from launch.processes import free_port
from tests.support.databases import create_database, drop_database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from launch.embedded import Stack
    from tests.support.mail import MailSink

RUN_DIR = Path(tempfile.mkdtemp(prefix="kefu-test-"))
PREFECT_PORT = free_port()
SMTP_PORT = free_port()


DATABASE_URL = create_database(RUN_DIR, "kefu_test")

# Set before any product module reads its settings; the children inherit the same values.
os.environ.update(
    {
        "KEFU_ENVIRONMENT": "test",
        "KEFU_DATA_DIR": str(RUN_DIR),
        "KEFU_DATABASE_URL": DATABASE_URL,
        "KEFU_SMTP_URL": f"mailto://127.0.0.1:{SMTP_PORT}?smtp=127.0.0.1&from=kefu@test.local",
        "KEFU_RESUME_RETRY_AFTER_SECONDS": "0",
        # Each message on its own, at once: the merge tests set their own window.
        "KEFU_NOTIFY_MERGE_WINDOW_SECONDS": "off",
        "PREFECT_HOME": str(RUN_DIR / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
        "PREFECT_UI_URL": f"http://127.0.0.1:{PREFECT_PORT}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "DO_NOT_TRACK": "1",
    }
)


# What a failed end-to-end test shows of the stack's logs: enough to tell a stalled runner from a
# busy Prefect database without the run folder, which CI does not keep.
LOG_TAIL_LINES = 40
LOG_ALERT = ("WARNING", "ERROR", "CRITICAL", "Traceback", "limit reached")


# Set on a test whose body failed, for fixtures that keep evidence at teardown (screenshots).
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.failed and call.when == "call":
        item.stash[CALL_FAILED] = True
    if report.failed and call.when == "call" and "stack" in getattr(item, "fixturenames", ()):
        for log in sorted((RUN_DIR / "logs").glob("*.log")):
            report.sections.append((f"stack log {log.name}", _log_digest(log)))
    return report


def _log_digest(log: Path) -> str:
    """The log's warnings and errors (one line each), then its last lines."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    alerts = [line for line in lines if any(mark in line for mark in LOG_ALERT)]
    return "\n".join(
        ["-- alerts (last 20) --", *alerts[-20:], "-- last lines --", *lines[-LOG_TAIL_LINES:]]
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from db.session import get_engine

    get_engine().dispose()
    drop_database(DATABASE_URL)


@pytest.fixture(scope="session")
def demo_org() -> None:
    """Migrate the run's database and seed the demo organisation into it."""
    from db.migrate import upgrade
    from db.session import transaction
    from launch.demo import seed_demo

    upgrade(DATABASE_URL)
    with transaction() as session:
        seed_demo(session)


@pytest.fixture
def session(demo_org: None) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test (service tests)."""
    from sqlalchemy.orm import Session

    from db.session import get_engine

    connection = get_engine().connect()
    outer = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield db_session
    finally:
        db_session.close()
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    """A real SMTP server on 127.0.0.1 that keeps every message it receives."""
    from tests.support.mail import MailSink

    sink = MailSink(SMTP_PORT)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def stack(demo_org: None, mail_sink: MailSink) -> Iterator[Stack]:
    """A Prefect server, a runner serving every deployment, and the inbox API."""
    from launch.embedded import Stack

    running = Stack(RUN_DIR, PREFECT_PORT)
    running.start()
    yield running
    running.stop()
