"""A person's completion or new process is answered in bounded time even when Prefect is slow."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import select

from db.models import InboxTask, Process, ProcessKind, ProcessState
from db.session import reading, transaction
from domain.inbox import complete
from flows.catalog import STEPS
from forms.complaint import ComplaintCreate
from inbox.intake import start_process
from launch.embedded import eventually
from tasks import person_waits
from tasks.human import HandBack, hand_back_for_person
from tasks.process_runs import unstarted_processes
from tests.support.factories import complaint_task, person

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


class SlowPrefect:
    """A Prefect API that holds each request until released, then says the run is unknown."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.paths: list[str] = []
        self.answered = 0
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer.paths.append(self.path)
                peer.release.wait(10)  # a failed test must not hang its server thread
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"detail": "Flow run not found"}')
                peer.answered += 1

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
    monkeypatch.setattr(person_waits, "PERSON_WAITS_SECONDS", 0.5)
    with transaction() as session:
        task = complaint_task(session, NOW)
        complete(
            session, person(session, "zhangmin"), task.id, {"response_note": "已联系"}, STEPS, NOW
        )
        task_id = task.id

    assert hand_back_for_person(task_id) is HandBack.UNDER_WAY
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


def test_a_new_complaint_is_answered_as_starting_and_its_run_is_created_in_the_background(
    slow_prefect: SlowPrefect, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(person_waits, "PERSON_WAITS_SECONDS", 0.5)
    intake = ComplaintCreate(
        resident_name="王先生", unit="3-1-1201", contact_phone="13800138000", channel="phone",
        category="noise", urgency="urgent", description="楼上深夜装修",
    )  # fmt: skip
    with transaction() as session:
        user_id = person(session, "zhangmin").id

    process = start_process(ProcessKind.COMPLAINT, user_id, intake, NOW)

    # Recorded and answered while Prefect still holds the run's creation.
    assert slow_prefect.answered == 0
    assert process.state == ProcessState.STARTING and process.flow_run_id is None
    eventually(lambda: slow_prefect.paths, "the run's creation to reach Prefect")
    assert slow_prefect.paths[0].startswith("/api/deployments/name/complaint/")
    slow_prefect.release.set()
    eventually(
        lambda: f"Could not start the flow run of process {process.id}" in caplog.text,
        "the background start to give up",
    )
    # Prefect did not take it: the process stays "starting", where the sweep finds it.
    with reading() as session:
        assert session.get_one(Process, process.id).state == ProcessState.STARTING
    assert process.id in unstarted_processes(limit=10_000)
