"""The local stack: which processes run, with which environment, on which ports."""

import base64
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from config.settings import PROJECT_ROOT
from launch.processes import Child, ProcessGroup, answers, port_taken

# A resumed run is picked up within this many seconds (Prefect's default poll is 10 s).
RUNNER_POLL_SECONDS = 1
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
# Every process of the local stack listens here only.
LOOPBACK = "127.0.0.1"
# The embedded Prefect server keeps its own SQLite database, which takes one writer at a time.
# Most of its writes were Prefect's event feed: every task run's states (about three events per
# replayed step, so a resume late in a long process wrote dozens) go to the events table, and
# the task-run recorder turns them into task-run rows. Nothing here reads either (flow runs,
# their states, pauses and inputs are what the product uses), and under load they kept the
# database locked and the server answering 503. The UI still shows every flow run and its
# states; a production server on PostgreSQL turns them back on (see the README).
EMBEDDED_PREFECT_SERVICES_OFF = (
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED",  # automations: none are defined
)


def declared_deployments(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """Return the deployments that prefect.yaml declares."""
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["deployments"])


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its data and which ports it uses."""

    data_dir: Path
    database_url: str
    prefect_port: int = 4200
    api_port: int = 8000
    smtp_port: int = 1025
    smtp_url: str | None = None

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self) -> dict[str, str]:
        """Return the environment every child (and every flow run) gets."""
        env = dict(os.environ)
        env.update(
            {
                "PREFECT_HOME": str(self.data_dir / "prefect"),
                "PREFECT_API_URL": self.prefect_api_url,
                "PREFECT_UI_URL": f"http://127.0.0.1:{self.prefect_port}",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
                "PREFECT_RUNNER_POLL_FREQUENCY": str(RUNNER_POLL_SECONDS),
                "PREFECT_LOGGING_LEVEL": "INFO",
                "DO_NOT_TRACK": "1",
                "KEFU_DATA_DIR": str(self.data_dir),
                "KEFU_DATABASE_URL": self.database_url,
                "KEFU_PUBLIC_BASE_URL": self.api_url,
                "KEFU_PROJECT_DIR": str(PROJECT_ROOT),
            }
        )
        for service in EMBEDDED_PREFECT_SERVICES_OFF:
            env.setdefault(service, "false")  # a setting given by the user wins
        if self.smtp_url:
            env["KEFU_SMTP_URL"] = self.smtp_url
        return env


def prefect_server_argv(config: StackConfig) -> list[str]:
    """Return the command of the local Prefect server: on loopback only, never the network.

    Anyone who reaches Prefect's API can pause, resume or cancel any run: on a shared host
    protect it too (see the README), with PREFECT_SERVER_API_AUTH_STRING.
    """
    return [sys.executable, "-m", "prefect", "server", "start", "--host", LOOPBACK,
            "--port", str(config.prefect_port)]  # fmt: skip


def start_prefect_server(group: ProcessGroup, config: StackConfig) -> Child:
    """Start a Prefect server on its own SQLite database under the data folder."""
    child = group.start("prefect-server", prefect_server_argv(config), config.environment())
    group.wait_ready(child, answers(f"{config.prefect_api_url}/health"))
    return child


def prefect_auth_headers(config: StackConfig) -> dict[str, str]:
    """Return the header Prefect's clients send when its API asks for a login, else none."""
    auth_string = config.environment().get("PREFECT_API_AUTH_STRING")
    if not auth_string:
        return {}
    return {"Authorization": f"Basic {base64.b64encode(auth_string.encode()).decode()}"}


def start_runner(group: ProcessGroup, config: StackConfig) -> Child:
    """Start the runner that serves every deployment of prefect.yaml."""
    child = group.start("runner", [sys.executable, "-m", "launch.runner"], config.environment())
    group.wait_ready(child, deployments_served(config))
    return child


def deployments_served(config: StackConfig) -> Callable[[], bool]:
    """Return a check that the Prefect server knows every deployment of prefect.yaml."""
    names = {d["name"] for d in declared_deployments()}

    def check() -> bool:
        try:
            response = httpx.post(f"{config.prefect_api_url}/deployments/filter", json={},
                                  headers=prefect_auth_headers(config), timeout=2)  # fmt: skip
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and names <= {d["name"] for d in response.json()}

    return check


def start_api(group: ProcessGroup, config: StackConfig) -> Child:
    """Start the inbox API (uvicorn)."""
    argv = [sys.executable, "-m", "uvicorn", "inbox.api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(config.api_port)]  # fmt: skip
    child = group.start("api", argv, config.environment())
    group.wait_ready(child, answers(f"{config.api_url}/healthz"))
    return child


def start_mail_sink(group: ProcessGroup, config: StackConfig) -> Child:
    """Start a local SMTP server that files every message into a Maildir under the data folder."""
    maildir = config.data_dir / "mail"
    argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{config.smtp_port}",
            "-c", "aiosmtpd.handlers.Mailbox", str(maildir)]  # fmt: skip
    child = group.start("mail-sink", argv, config.environment())
    group.wait_ready(child, lambda: port_taken(config.smtp_port))
    return child
