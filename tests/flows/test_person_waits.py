"""A person's completion answers in bounded time even when Prefect is slow to take the hand-back."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import select

from db.models import InboxTask
from db.session import reading, transaction
from domain.inbox import complete
from flows.catalog import STEPS
from launch.embedded import eventually
from tasks import human
from tasks.human import HandBack, hand_back_for_person
from tests.support.factories import complaint_task, person

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


class SlowPrefect:
    """A Prefect API that holds each request until released, then says the run is unknown."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.paths: list[str] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer.paths.append(self.path)
                peer.release.wait(10)  # a failed test must not hang its server thread
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"detail": "Flow run not found"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"


@pytest.fixture
def slow_prefect(demo_org: None) -> Iterator[SlowPrefect]:
    prefect = SlowPrefect()
    threading.Thread(target=prefect.server.serve_forever, daemon=True).start()
    try:
        with temporary_settings({PREFECT_API_URL: prefect.url}):
            yield prefect
    finally:
        prefect.release.set()
        prefect.server.shutdown()


def test_the_person_is_answered_and_the_hand_back_finishes_in_the_background(
    slow_prefect: SlowPrefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(human, "PERSON_WAITS_SECONDS", 0.5)
    with transaction() as session:
        task = complaint_task(session, NOW)
        complete(
            session, person(session, "zhangmin"), task.id, {"response_note": "已联系"}, STEPS, NOW
        )
        task_id = task.id

    assert hand_back_for_person(task_id, NOW) is HandBack.UNDER_WAY
    assert not HandBack.UNDER_WAY.settled
    # The hand-back went to the Prefect of the request's settings, and still waits on it.
    eventually(lambda: slow_prefect.paths, "the hand-back to reach Prefect")
    assert slow_prefect.paths[0].startswith("/api/flow_runs/")

    slow_prefect.release.set()

    def recorded_error() -> str | None:
        with reading() as session:
            return session.scalars(
                select(InboxTask.resume_error).where(InboxTask.id == task_id)
            ).one()

    # Finished after the person left: its outcome is on the task for the sweep to retry.
    error = eventually(recorded_error, "the background hand-back to record its outcome")
    assert "ObjectNotFound" in error or "404" in error
