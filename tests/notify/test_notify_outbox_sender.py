"""The outbox-sender flow's task, wired to the configured database and SMTP server."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from db.models import User
from db.session import get_engine, get_sessionmaker
from flows.outbox_sender import deliver_due_notifications, outbox_sender
from notify.delivery import DeliveryReport
from notify.outbox import enqueue

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)


def _clear_cached_configuration() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()


@pytest.fixture
def configured(
    engine: Engine, smtp_server: tuple[Any, int], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point the process-wide settings at the test database and SMTP server."""
    monkeypatch.setenv("KEFU_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("KEFU_SMTP_URL", f"mailto://127.0.0.1:{smtp_server[1]}")
    monkeypatch.setenv("KEFU_MAIL_FROM", "kefu@example.cn")
    _clear_cached_configuration()
    yield
    get_engine().dispose()
    _clear_cached_configuration()


def test_flow_is_named_for_its_deployment() -> None:
    assert outbox_sender.name == "outbox-sender"


def test_task_delivers_with_the_configured_database_and_server(
    configured: None,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: Callable[..., User],
    smtp_server: tuple[Any, int],
) -> None:
    sink, _port = smtp_server
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn")
        enqueue(
            session,
            event="complaint_closed",
            recipients=[lina],
            context={"process_subject": "3栋1201 漏水投诉", "unit": "3栋1201", "satisfaction": 5},
            dedup_key="run-1:closed",
            now=T0,
        )

    report = deliver_due_notifications.fn(T0)

    assert report == DeliveryReport(sent=1)
    [received] = sink.wait_for(1)
    assert received.message["Subject"] == "【已结案】3栋1201 漏水投诉"
    assert received.rcpt_tos == ["lina@example.cn"]
