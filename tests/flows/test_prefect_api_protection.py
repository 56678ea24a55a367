"""Prefect's API can resume any run, so it is kept off the network and, in production, locked."""

import socket
import uuid
from pathlib import Path

import httpx
import pytest

from launch.processes import ProcessGroup, free_port
from launch.stack import (
    StackConfig,
    prefect_auth_headers,
    prefect_server_argv,
    start_prefect_server,
)

AUTH_STRING = "kefu-ops:correct-horse-battery-staple"


def test_the_launcher_starts_prefect_on_loopback_only(tmp_path: Path) -> None:
    argv = prefect_server_argv(StackConfig(tmp_path, "sqlite://"))
    hosts = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--host"]
    assert hosts == ["127.0.0.1"]


def outward_address() -> str | None:
    """Return this machine's address on its network, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.mark.e2e
def test_the_running_prefect_server_does_not_answer_from_the_network(stack: object) -> None:
    from launch.embedded import Stack

    assert isinstance(stack, Stack)
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    loopback = httpx.get(f"{stack.config.prefect_api_url}/health", timeout=5)
    assert loopback.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{address}:{stack.config.prefect_port}/api/health", timeout=5)


@pytest.mark.e2e
def test_with_an_auth_string_prefect_refuses_an_anonymous_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The production setting (README): the server asks for it, every client sends it.
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", AUTH_STRING)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", AUTH_STRING)
    config = StackConfig(tmp_path, f"sqlite:///{tmp_path / 'kefu.db'}", prefect_port=free_port())
    group = ProcessGroup(tmp_path / "logs")
    try:
        start_prefect_server(group, config)
        resume = f"{config.prefect_api_url}/flow_runs/{uuid.uuid4()}/resume"
        forged = {"run_input": {"response_note": "伪造"}}

        anonymous = httpx.post(resume, json=forged, timeout=10)
        wrong = httpx.post(resume, json=forged, auth=("kefu-ops", "guess"), timeout=10)
        known = httpx.post(
            f"{config.prefect_api_url}/flow_runs/filter",
            json={},
            headers=prefect_auth_headers(config),
            timeout=10,
        )
    finally:
        group.stop_all()

    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert known.status_code == 200  # Prefect's own clients get in
