"""The outbox sender killed mid-pass and started again: every message arrives exactly once.

The sender runs as its own process against a real SMTP server that holds one message's answer,
so the kill lands while exactly that message is in flight.
"""

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from config.settings import PROJECT_ROOT
from db.base import utcnow
from db.models import DeliveryState, OutboxMessage, User
from launch.embedded import eventually
from notify.delivery import email_message_id
from notify.outbox import enqueue
from tests.notify.conftest import HoldingSink

QUEUED = 30
# The message whose answer the server holds back: the sender is killed while waiting for it.
HELD = 5
LEASE_SECONDS = 10
# Generous: a loaded CI machine takes seconds to start a Python process.
START_DEADLINE = 120.0
SENDER_ADDRESS = "kefu@example.cn"
SENDER = "import sys; from datetime import datetime; from notify.delivery import deliver_due; " + (
    "deliver_due(datetime.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else None)"
)


def _sender(engine: Engine, port: int, *args: str) -> subprocess.Popen[bytes]:
    """Start the outbox sender in its own process, configured only by its environment."""
    env = {
        **os.environ,
        "KEFU_ENVIRONMENT": "test",
        "KEFU_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "KEFU_SMTP_URL": f"mailto://127.0.0.1:{port}?from={SENDER_ADDRESS}",
        "KEFU_NOTIFY_MERGE_WINDOW_SECONDS": "off",
        "KEFU_OUTBOX_SENDING_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    return subprocess.Popen([sys.executable, "-c", SENDER, *args], cwd=PROJECT_ROOT, env=env)


def _states(session_factory: sessionmaker[Session]) -> dict[str, DeliveryState]:
    """Return each row's state by the Message-ID its email carries."""
    with session_factory() as session:
        rows = session.execute(select(OutboxMessage.dedup_key, OutboxMessage.state)).all()
    return {email_message_id(key, SENDER_ADDRESS): DeliveryState(state) for key, state in rows}


def test_a_sender_killed_mid_pass_loses_and_duplicates_nothing(
    engine: Engine,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: Callable[..., User],
    make_settings: Callable[..., Settings],
    holding_smtp_server: Callable[[int], tuple[HoldingSink, int]],
) -> None:
    sink, port = holding_smtp_server(HELD)
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
    in_flight = [key for key, state in states.items() if state == DeliveryState.SENDING]
    assert len(in_flight) == 1, states
    assert Counter(states.values())[DeliveryState.SENT] == HELD - 1
    assert Counter(states.values())[DeliveryState.PENDING] == QUEUED - HELD

    # Started again once the dead sender's lease is over (its clock moved on, not the test's).
    after_lease = utcnow() + timedelta(seconds=LEASE_SECONDS + 1)
    second = _sender(engine, port, after_lease.isoformat())
    assert second.wait(START_DEADLINE) == 0

    states = _states(session_factory)
    assert len(states) == QUEUED
    assert states == {
        key: DeliveryState.UNKNOWN if key in in_flight else DeliveryState.SENT for key in states
    }
    # Each arrived exactly once, the one in flight at the kill included: it really had gone.
    assert sink.message_ids == Counter(list(states))
