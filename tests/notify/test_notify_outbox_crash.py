"""The outbox sender killed mid-pass and started again: every message arrives exactly once.

The sender runs as its own process against a real SMTP server that holds one message's answer,
so the kill lands while exactly that message is in flight.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from config.settings import PROJECT_ROOT
from db.base import utcnow
from db.models import DeliveryState, OutboxMessage, User
from launch.embedded import eventually
from notify.outbox import enqueue
from tests.notify.conftest import free_port

QUEUED = 30
# The message whose answer the server holds back: the sender is killed while waiting for it.
HELD = 5
LEASE_SECONDS = 10
# Generous: a loaded CI machine takes seconds to start a Python process.
START_DEADLINE = 120.0
SENDER = "import sys; from datetime import datetime; from notify.delivery import deliver_due; " + (
    "deliver_due(datetime.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else None)"
)


class HoldingSink:
    """An SMTP server's handler that keeps every message and holds the answer to one of them."""

    def __init__(self, hold: int) -> None:
        self._hold = hold
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.recipients: Counter[str] = Counter()
        self.arrived = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        with self._lock:
            self.recipients.update(envelope.rcpt_tos)
            self.arrived += 1
            held = self.arrived == self._hold
        if held:
            # The message is in; its sender never hears so.
            await asyncio.to_thread(self.release.wait, START_DEADLINE)
        return "250 OK"


@pytest.fixture
def holding_sink() -> Iterator[tuple[HoldingSink, int]]:
    sink = HoldingSink(HELD)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        sink.release.set()
        controller.stop()


def _sender(engine: Engine, port: int, *args: str) -> subprocess.Popen[bytes]:
    """Start the outbox sender in its own process, configured only by its environment."""
    env = {
        **os.environ,
        "KEFU_ENVIRONMENT": "test",
        "KEFU_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "KEFU_SMTP_URL": f"mailto://127.0.0.1:{port}?from=kefu@example.cn",
        "KEFU_NOTIFY_MERGE_WINDOW_SECONDS": "off",
        "KEFU_OUTBOX_SENDING_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    return subprocess.Popen([sys.executable, "-c", SENDER, *args], cwd=PROJECT_ROOT, env=env)


def _states(session_factory: sessionmaker[Session]) -> dict[str, DeliveryState]:
    """Return each row's state by its recipient's address."""
    with session_factory() as session:
        rows = session.execute(
            select(User.email, OutboxMessage.state).join(
                User, User.id == OutboxMessage.recipient_id
            )
        ).all()
    return {str(email): DeliveryState(state) for email, state in rows}


def test_a_sender_killed_mid_pass_loses_and_duplicates_nothing(
    engine: Engine,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: Callable[..., User],
    make_settings: Callable[..., Settings],
    holding_sink: tuple[HoldingSink, int],
) -> None:
    sink, port = holding_sink
    addresses = [f"resident{n:02d}@example.cn" for n in range(QUEUED)]
    with session_factory.begin() as session:
        people = [add_user(session, site_id, address, email=address) for address in addresses]
        enqueue(
            session,
            event="complaint_closed",
            recipients=people,
            context={"process_subject": "3栋1201 漏水投诉", "unit": "3栋1201", "satisfaction": 5},
            dedup_key="run-1:closed",
            settings=make_settings(notify_merge_window_seconds=None),
        )

    first = _sender(engine, port)
    try:
        eventually(lambda: sink.arrived >= HELD, "the held message reached the server", 120.0)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    sink.release.set()

    states = _states(session_factory)
    in_flight = [address for address, state in states.items() if state == DeliveryState.SENDING]
    assert len(in_flight) == 1, states
    assert Counter(states.values())[DeliveryState.SENT] == HELD - 1
    assert Counter(states.values())[DeliveryState.PENDING] == QUEUED - HELD

    # Started again once the dead sender's lease is over (its clock moved on, not the test's).
    after_lease = utcnow() + timedelta(seconds=LEASE_SECONDS + 1)
    second = _sender(engine, port, after_lease.isoformat())
    assert second.wait(START_DEADLINE) == 0

    states = _states(session_factory)
    assert states == {
        address: DeliveryState.UNKNOWN if address in in_flight else DeliveryState.SENT
        for address in addresses
    }
    # Each arrived exactly once, the one in flight at the kill included: it really had gone.
    assert sink.recipients == Counter(addresses)
