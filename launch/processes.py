"""Child processes of the local stack: start each in its own group, wait for it, stop it."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from config.settings import PROJECT_ROOT

STARTUP_DEADLINE_SECONDS = 90.0
STOP_GRACE_SECONDS = 15.0
POLL_INTERVAL_SECONDS = 0.2


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_taken(port: int) -> bool:
    """Return whether something already listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(
    condition: Callable[[], bool], what: str, deadline: float, poll: float = POLL_INTERVAL_SECONDS
) -> None:
    """Poll `condition` until it holds, or raise TimeoutError naming `what`."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(poll)
    raise TimeoutError(f"{what} did not happen within {deadline:.0f} s")


def answers(url: str) -> Callable[[], bool]:
    """Return a check that `url` answers HTTP 200."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class ProcessGroup:
    """The stack's children, stopped in reverse order of starting."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Child:
        """Start `argv` in a new session (so Ctrl-C reaches only us), logging to a file."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child = Child(name, popen, log_path)
        self.children.append(child)
        return child

    def wait_ready(self, child: Child, check: Callable[[], bool]) -> None:
        """Wait until `check` holds; fail fast, with the log's tail, if the child dies."""

        def ready() -> bool:
            if child.popen.poll() is not None:
                tail = child.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{child.name} exited with {child.popen.returncode}:\n{tail}")
            return check()

        wait_until(ready, f"{child.name} answering", STARTUP_DEADLINE_SECONDS)

    def stop(self, name: str) -> None:
        """Stop one child and everything it started."""
        for child in [c for c in self.children if c.name == name]:
            _terminate(child)
            self.children.remove(child)

    def stop_all(self) -> None:
        """Stop every child, newest first."""
        while self.children:
            _terminate(self.children.pop())


def _terminate(child: Child) -> None:
    if child.popen.poll() is not None:
        return
    # The whole process group: a runner's flow-run subprocesses go with it.
    os.killpg(child.popen.pid, signal.SIGTERM)
    try:
        child.popen.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(child.popen.pid, signal.SIGKILL)
        child.popen.wait()
