"""The product embedded in one process, for end-to-end tests and benchmarks.

Prefect server and runner run as child processes; the inbox API runs in a thread of the caller,
so a test can swap its clock. People reach it only through the REST API (`ApiClient`).
"""

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from db.base import utcnow
from inbox.api.app import create_app
from launch.demo import DEMO_PASSWORD
from launch.processes import ProcessGroup, free_port, wait_until
from launch.stack import StackConfig, start_prefect_server, start_runner

T = TypeVar("T")
# Generous: a flow-run subprocess starts in ~3 s, but CI machines are shared, and Prefect on
# SQLite answers a locked database with 503s that its clients retry with a growing back-off.
STEP_DEADLINE_SECONDS = 120.0
POLL_SECONDS = 0.05


def eventually(
    probe: Callable[[], T | None], what: str, deadline: float = STEP_DEADLINE_SECONDS
) -> T:
    """Poll `probe` until it returns something truthy and return it; fail naming `what`."""
    found: list[T] = []

    def check() -> bool:
        value = probe()
        if value:
            found.append(value)
            return True
        return False

    wait_until(check, what, deadline, POLL_SECONDS)
    return found[0]


class Stack:
    """Prefect server and runner as child processes; the inbox API in a thread of the tests."""

    def __init__(self, run_dir: Path, prefect_port: int) -> None:
        from config import get_settings

        self.config = StackConfig(
            data_dir=run_dir,
            database_url=get_settings().database_url,
            prefect_port=prefect_port,
            api_port=free_port(),
        )
        self.group = ProcessGroup(run_dir / "logs")
        self.app = create_app()
        self.clock: Callable[[], datetime] = utcnow
        self.app.state.clock = lambda: self.clock()
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, host="127.0.0.1", port=self.config.api_port, log_level="warning"
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        start_prefect_server(self.group, self.config)
        start_runner(self.group, self.config)
        self._thread.start()
        wait_until(lambda: self._server.started, "inbox API started", 30)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self.group.stop_all()

    def stop_prefect_server(self) -> None:
        self.group.stop("prefect-server")

    def start_prefect_server(self) -> None:
        """Bring the Prefect server back, with a fresh runner.

        A runner that lived through the outage keeps connections to the old server and can
        stall on one for the client's whole request timeout (60 s) before it polls again.
        """
        self.group.stop("runner")
        start_prefect_server(self.group, self.config)
        start_runner(self.group, self.config)

    def login(self, username: str, language: str = "zh-CN") -> "ApiClient":
        """Return an API client logged in as a demo person."""
        client = ApiClient(self.config.api_url, language)
        response = client.http.post(
            "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
        )
        response.raise_for_status()
        client.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return client


class ApiClient:
    """A person at the REST API."""

    def __init__(self, base_url: str, language: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Accept-Language": language}, timeout=60
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/api/v1{path}", **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"/api/v1{path}", **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API, insist on success, return the JSON."""
        response = self.http.request(method, f"/api/v1{path}", **kwargs)
        assert response.is_success, f"{method} {path} → {response.status_code}: {response.text}"
        return response.json()

    def open_task(self, process_id: str, step: str, scope: str = "mine") -> dict[str, Any]:
        """Wait until the process's `step` shows up among my open tasks and return it."""

        def probe() -> dict[str, Any] | None:
            tasks = self.ok("GET", "/tasks", params={"scope": scope})
            return next(
                (t for t in tasks if t["process_id"] == process_id and t["step"] == step), None
            )

        return eventually(probe, f"{step} of {process_id} in the inbox")

    def complete(self, task_id: int, decision: dict[str, Any]) -> dict[str, Any]:
        result = self.ok("POST", f"/tasks/{task_id}/complete", json=decision)
        assert isinstance(result, dict)
        return result
