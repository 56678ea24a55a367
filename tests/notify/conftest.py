"""Real peers for the notification tests: a fresh database per test and a local SMTP server."""

import asyncio
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.base import Base
from db.models import Site, User
from db.session import make_engine
from tests.notify.wecom_peer import WeComPeer, running_wecom_peer

POSTGRES_URL = os.environ.get("KEFU_TEST_POSTGRES_URL")
DATABASES = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]

WAIT_SECONDS = 10
# How long a held answer waits at most: longer than any test takes to let it go.
HOLD_SECONDS = 120
MAIL_FROM = "客服中心 <kefu@example.cn>"
PUBLIC_BASE_URL = "https://kefu.example.cn"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "mail_from": MAIL_FROM,
        "public_base_url": PUBLIC_BASE_URL,
        "outbox_max_attempts": 3,
        "outbox_sending_lease_seconds": 300,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        sqlite_engine = make_engine(f"sqlite:///{tmp_path / 'kefu.db'}")
        Base.metadata.create_all(sqlite_engine)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    assert POSTGRES_URL is not None
    # A schema of its own per test, dropped afterwards, so tests never see each other's rows.
    schema = f"test_notify_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    pg_engine = make_engine(url.render_as_string(hide_password=False))
    try:
        Base.metadata.create_all(pg_engine)
        yield pg_engine
    finally:
        pg_engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _add_user(
    session: Session,
    site_id: int,
    username: str,
    *,
    email: str | None,
    locale: str = "zh_CN",
    display_name: str | None = None,
) -> User:
    """Add a user of site `site_id` and return it, flushed so it has an id."""
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash="!",
        site_id=site_id,
        locale=locale,
        email=email,
    )
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Return a factory of settings for a test, ignoring the environment and its .env file."""
    return _make_settings


@pytest.fixture
def add_user() -> Callable[..., User]:
    """Return a factory that adds a user and flushes it so it has an id."""
    return _add_user


@pytest.fixture
def site_id(session_factory: sessionmaker[Session]) -> int:
    with session_factory.begin() as session:
        site = Site(code="HY01", name="华苑小区管理处")
        session.add(site)
        session.flush()
        return site.id


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


class MailSink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        with self._arrived:
            self.envelopes.append(envelope)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int) -> list[Received]:
        """Return the messages once at least `count` have arrived; fail after the deadline."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.envelopes) >= count, WAIT_SECONDS):
                raise AssertionError(f"{len(self.envelopes)} of {count} messages arrived")
            envelopes = list(self.envelopes)
        return [self._parse(envelope) for envelope in envelopes]

    @staticmethod
    def _parse(envelope: Envelope) -> Received:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return Received(str(envelope.mail_from), list(envelope.rcpt_tos), content, message)


class HoldingSink:
    """An SMTP handler that keeps every message's Message-ID and holds the answer to one."""

    def __init__(self, hold: int) -> None:
        self._hold = hold
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.message_ids: Counter[str] = Counter()
        self.arrived = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        with self._lock:
            self.message_ids[str(message["Message-ID"])] += 1
            self.arrived += 1
            held = self.arrived == self._hold
        if held:
            # The message is in; its sender does not hear so until the test lets it.
            await asyncio.to_thread(self.release.wait, HOLD_SECONDS)
        return "250 OK"


@pytest.fixture
def holding_smtp_server() -> Iterator[Callable[[int], tuple[HoldingSink, int]]]:
    """Return a starter of SMTP servers that hold the answer to their `hold`-th message."""
    started: list[tuple[HoldingSink, Controller]] = []

    def start(hold: int) -> tuple[HoldingSink, int]:
        sink, port = HoldingSink(hold), free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        started.append((sink, controller))
        return sink, port

    yield start
    for sink, controller in started:
        sink.release.set()
        controller.stop()


@pytest.fixture
def closed_port() -> int:
    """Return a port on 127.0.0.1 where no SMTP server listens: a mail server that is down."""
    return free_port()


@pytest.fixture
def smtp_server() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture
def wecom() -> Iterator[WeComPeer]:
    """Return a running local server that answers like WeCom's API."""
    with running_wecom_peer() as peer:
        yield peer
