"""The daily-digest flow's task, wired to the configured database (called with .fn, no server)."""

from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from db.models import InboxTask, OutboxMessage, Process, ProcessKind, User
from db.session import get_engine, get_sessionmaker
from flows.digest import daily_digest, queue_digests

MONDAY_0830 = datetime(2025, 11, 24, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def _clear_cached_configuration() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()


@pytest.fixture
def configured(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("KEFU_ENVIRONMENT", "test")
    _clear_cached_configuration()
    yield
    get_engine().dispose()
    _clear_cached_configuration()


def test_flow_is_named_for_its_deployment() -> None:
    assert daily_digest.name == "daily-digest"


def test_task_queues_the_digests_with_translated_step_titles(
    configured: None,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: Callable[..., User],
) -> None:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn")
        process = Process(
            kind=ProcessKind.COMPLAINT, site_id=site_id, subject="漏水", started_by_id=lina.id
        )
        session.add(process)
        session.flush()
        session.add(
            InboxTask(
                process_id=process.id,
                flow_run_id="run-1",
                step_key="resolution.1",
                step="complaint.resolution",
                site_id=site_id,
                assignee_id=lina.id,
                available_from=MONDAY_0830,
            )
        )

    report = queue_digests.fn(MONDAY_0830)

    assert (report.people, report.queued) == (1, 1)
    with session_factory() as session:
        row = session.scalars(select(OutboxMessage)).one()
    assert row.event == "daily_digest" and row.recipient_id == lina.id
    assert "漏水" in row.body
