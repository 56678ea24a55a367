"""The front-desk day under load: many staff at once against the stack `make up` runs.

One Prefect server, the local runner, the inbox API (uvicorn) and the mail sink run as child
processes on a fresh database, exactly as `python -m launch` starts them. The benchmark creates
the staff accounts through the admin service (front desk and engineering, on the demo site),
primes the engineering queue with a few dispatched complaints, then runs the locust users of
bench/front_desk_load.py twice in a process of their own: a baseline of one front-desk person
and one engineer acting quickly, then the load (by default 200 staff for five minutes). It
prints p50/p95 per route, failures, requests per second, p95 under load against the baseline,
the stack's peak memory and the machine's load average.
"""

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # comes with locust, which this benchmark needs anyway
from sqlalchemy import func, select

from bench.environment import RUN_DIR
from config import get_settings
from config.settings import PROJECT_ROOT
from db.base import utcnow
from db.migrate import upgrade
from db.models import InboxTask, Process, ProcessKind, Role, TaskState, User
from db.session import get_engine, reading, transaction
from domain.admin import create_user
from launch.demo import DEMO_PASSWORD, seed_demo
from launch.embedded import ApiClient
from launch.processes import ProcessGroup, free_port, wait_until
from launch.stack import (
    StackConfig,
    prefect_auth_headers,
    start_api,
    start_mail_sink,
    start_prefect_server,
    start_runner,
)


@dataclass(frozen=True)
class Phase:
    """One run of the locust users: how many, how fast they arrive, for how long, how eagerly."""

    users: int
    engineers: int
    spawn_rate: float
    seconds: float
    think: tuple[float, float]  # seconds between one person's actions

    @property
    def ramp_seconds(self) -> float:
        return self.users / self.spawn_rate

    def describe(self) -> str:
        front_desk = self.users - self.engineers
        return (
            f"{self.users} users ({front_desk} front desk, {self.engineers} engineering), "
            f"{self.spawn_rate:g} starting a second (ramp {self.ramp_seconds:.0f} s) then "
            f"{self.seconds:g} s all at work, think {self.think[0]:g}–{self.think[1]:g} s"
        )


def load_phase(users: int = 200, spawn_rate: float = 2, seconds: float = 300) -> Phase:
    """Return the load: one engineer in five, each person acting every 3–12 s.

    Two people starting a second, not more: each start is two logins (API and web), and a
    login verifies an Argon2 hash; a faster ramp measures a login storm rather than the day.
    """
    return Phase(users, max(1, users // 5), spawn_rate, seconds, (3.0, 12.0))


# One person of each kind, acting about every second: what a route costs with nobody else on it.
BASELINE = Phase(users=2, engineers=1, spawn_rate=2, seconds=30, think=(0.5, 1.5))
# Dispatched complaints waiting in the engineering queue before the baseline, so that its
# engineer has something to claim (the queue fills by itself under load).
PRIMED_DISPATCHES = 6
SAMPLE_SECONDS = 1.0
SETTLE_SECONDS = 120.0
# Lines worth counting in the stack's logs after a run.
LOG_MARKS = ("Traceback", "database is locked", " 503 ")


def run(prefect_port: int, load: Phase) -> list[str]:
    """Start the stack, run the baseline and the load, and return the lines to print."""
    settings = get_settings()
    upgrade(settings.database_url)
    accounts = create_staff(load.users - load.engineers, load.engineers)
    accounts_path = RUN_DIR / "load-accounts.json"
    accounts_path.write_text(json.dumps(accounts), encoding="utf-8")
    config = StackConfig(data_dir=RUN_DIR, database_url=settings.database_url,
                         prefect_port=prefect_port, api_port=free_port(),
                         smtp_port=free_port())  # fmt: skip
    # As `make up`: notifications go to the local mail sink through the outbox.
    config = replace(
        config, smtp_url=f"mailto://127.0.0.1:{config.smtp_port}?from=kefu@bench.local"
    )
    group = ProcessGroup(RUN_DIR / "logs")
    load_before = os.getloadavg()
    try:
        start_mail_sink(group, config)
        start_prefect_server(group, config)
        start_runner(group, config)
        start_api(group, config)
        prime_engineering_queue(config)
        settled = settle(config)
        baseline = drive(config, accounts_path, BASELINE, "baseline")
        with Sampler(group) as sampler:
            loaded = drive(config, accounts_path, load, "load")
        load_after = os.getloadavg()
        backlog = prefect_backlog(config)
    finally:
        group.stop_all()
    after = after_run()
    after["settled"] = settled
    after["prefect_backlog"] = backlog
    return report(load, baseline, loaded, sampler, (load_before, load_after), after)


def create_staff(front_desk: int, engineers: int) -> dict[str, Any]:
    """Create the simulated staff on the demo site through the admin service; return the logins.

    One account each, as on a real site: 200 people sharing the nine demo logins would all
    hold the same tasks and race for them, which is not what a front desk does.
    """
    password = secrets.token_urlsafe(16)  # not a published password, which the service refuses
    accounts: dict[str, Any] = {"password": password, "front_desk": [], "engineering": []}
    with transaction() as session:
        site = seed_demo(session)
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        now = utcnow()
        for kind, role, count in (("front_desk", Role.STAFF, front_desk),
                                  ("engineering", Role.ENGINEERING, engineers)):  # fmt: skip
            for number in range(1, count + 1):
                username = f"{kind.replace('_', '-')}-{number:03d}"
                create_user(session, admin, username=username, display_name=username,
                            password=password, site_id=site.id, roles=[role.value],
                            email=f"{username}@bench.kefu.local", now=now)  # fmt: skip
                accounts[kind].append(username)
    return accounts


def prime_engineering_queue(config: StackConfig) -> None:
    """File complaints as the demo front desk and dispatch them to engineering."""
    staff = ApiClient(config.api_url, "zh-CN")
    token = staff.http.post("/api/v1/auth/token",
                            data={"username": "zhangmin", "password": DEMO_PASSWORD})  # fmt: skip
    token.raise_for_status()
    staff.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    intake = {"resident_name": "基准", "contact_phone": "13800138000", "channel": "phone",
              "category": "repair", "urgency": "general", "description": "基准测试"}  # fmt: skip
    processes = [
        staff.ok("POST", "/complaints", json={**intake, "unit": f"P-{n}"})["process_id"]
        for n in range(PRIMED_DISPATCHES)
    ]
    # Step by step across all of them, so that their flow runs overlap.
    for process_id in processes:
        task = staff.open_task(process_id, "complaint.first-response")
        staff.complete(task["id"], {"response_note": "已联系"})
    dispatch = {"outcome": "dispatch", "summary": "派工程", "department": "engineering"}
    for process_id in processes:
        staff.complete(staff.open_task(process_id, "complaint.resolution")["id"], dispatch)
    staff.http.close()


def _count_flow_runs(config: StackConfig, criteria: dict[str, Any]) -> int | None:
    """Return how many flow runs match `criteria`, or None when Prefect does not answer."""
    try:
        response = httpx.post(f"{config.prefect_api_url}/flow_runs/count",
                              json={"flow_runs": criteria}, timeout=10,
                              headers=prefect_auth_headers(config))  # fmt: skip
        return int(response.json()) if response.status_code == 200 else None
    except httpx.HTTPError:
        return None


def prefect_backlog(config: StackConfig) -> dict[str, int | None]:
    """Return the flow runs still running, starting, or due and waiting for a runner slot."""
    due = {"before_": datetime.now(UTC).isoformat()}
    return {
        "running": _count_flow_runs(config, {"state": {"type": {"any_": ["RUNNING"]}}}),
        "pending": _count_flow_runs(config, {"state": {"type": {"any_": ["PENDING"]}}}),
        "due, not started": _count_flow_runs(
            config, {"state": {"type": {"any_": ["SCHEDULED"]}}, "expected_start_time": due}
        ),
    }


def settle(config: StackConfig) -> bool:
    """Wait until no flow run is running or about to: the start-up housekeeping (sweep, outbox,
    watchdog) and the primed complaints, so that the baseline measures a quiet stack."""
    busy = {"state": {"type": {"any_": ["RUNNING", "PENDING"]}}}

    def quiet() -> bool:
        return _count_flow_runs(config, busy) == 0

    try:
        wait_until(quiet, "a quiet stack", SETTLE_SECONDS, 1.0)
    except TimeoutError:
        return False  # measured anyway; the report says so
    return True


def drive(config: StackConfig, accounts: Path, phase: Phase, label: str) -> dict[str, Any]:
    """Run the locust users for one phase in a process of their own; return their figures."""
    out = RUN_DIR / f"locust-{label}.json"
    log_path = RUN_DIR / "logs" / f"locust-{label}.log"
    think = f"{phase.think[0]},{phase.think[1]}"
    argv = [sys.executable, "-m", "bench.front_desk_load", "--host", config.api_url,
            "--accounts", str(accounts), "--out", str(out), "--users", str(phase.users),
            "--engineers", str(phase.engineers), "--spawn-rate", str(phase.spawn_rate),
            "--seconds", str(phase.seconds), "--think", think]  # fmt: skip
    with log_path.open("wb") as log:
        deadline = phase.ramp_seconds + phase.seconds + 600
        done = subprocess.run(
            argv,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=deadline,
        )
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"locust ({label}) exited with {done.returncode}:\n{tail}")
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    # locust warns when its own CPU passes 90 %: then the generator, not the stack, is the limit.
    figures["generator_cpu_warnings"] = log_path.read_text(errors="replace").count("CPU usage")
    return figures


@dataclass
class Sampler:
    """Samples, once a second in a thread, the memory of each child's process tree and the load
    average, keeping the peaks; and counts the CPU seconds the stack and the whole machine spent
    meanwhile, since on a shared machine other work takes its part of the two cores."""

    group: ProcessGroup
    first_mib: dict[str, float] = field(default_factory=dict)
    peak_mib: dict[str, float] = field(default_factory=dict)
    peak_total_mib: float = 0.0
    peak_processes: int = 0
    peak_load: float = 0.0
    stack_cpu_s: float = 0.0
    busy_cpu_s: float = 0.0
    wall_s: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "Sampler":
        self.stack_cpu_s, self.busy_cpu_s = -self._stack_cpu(), -_busy_cpu()
        self.wall_s = -time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        self.stack_cpu_s += self._stack_cpu()
        self.busy_cpu_s += _busy_cpu()
        self.wall_s += time.monotonic()

    def _stack_cpu(self) -> float:
        return sum(_tree_cpu(child.popen.pid) for child in list(self.group.children))

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(SAMPLE_SECONDS):
                return

    def sample(self) -> None:
        """Take one sample of every child's tree (flow runs count under the runner)."""
        total, processes = 0.0, 0
        for child in list(self.group.children):
            rss, count = _tree_rss(child.popen.pid)
            mib = rss / 2**20
            self.first_mib.setdefault(child.name, mib)
            self.peak_mib[child.name] = max(self.peak_mib.get(child.name, 0.0), mib)
            total += mib
            processes += count
        self.peak_total_mib = max(self.peak_total_mib, total)
        self.peak_processes = max(self.peak_processes, processes)
        self.peak_load = max(self.peak_load, os.getloadavg()[0])


def _tree(pid: int) -> list[psutil.Process]:
    """Return a process and its descendants (none if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _tree_cpu(pid: int) -> float:
    """Return the CPU seconds of a process tree: its live members, and the children they reaped
    (ended flow runs count in the fork server that waited for them)."""
    seconds = 0.0
    for process in _tree(pid):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds += times.user + times.system + times.children_user + times.children_system
    return seconds


def _busy_cpu() -> float:
    """Return the CPU seconds the whole machine has spent not idle since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _tree_rss(pid: int) -> tuple[int, int]:
    """Return the summed RSS in bytes of a process and its descendants, and how many there are.

    Forked flow runs share pages with the fork server, and RSS counts shared pages in each, so
    the sum overstates what the tree costs the machine; it is an upper bound.
    """
    rss, count = 0, 0
    for process in _tree(pid):
        try:
            rss += process.memory_info().rss
            count += 1
        except psutil.NoSuchProcess:
            continue  # a flow run that ended between the listing and the reading
    return rss, count


def after_run() -> dict[str, Any]:
    """Return what the database and the logs hold once the stack has stopped."""
    with reading() as session:
        complaints = dict(
            session.execute(
                select(Process.state, func.count())
                .where(Process.kind == ProcessKind.COMPLAINT)
                .group_by(Process.state)
            ).all()
        )
        tasks = dict(
            session.execute(select(InboxTask.state, func.count()).group_by(InboxTask.state)).all()
        )
        unresumed = session.scalar(
            select(func.count())
            .select_from(InboxTask)
            .where(InboxTask.state == TaskState.DONE, InboxTask.resumed_at.is_(None))
        )
    marks: dict[str, dict[str, int]] = {}
    for log in sorted((RUN_DIR / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        found = {mark.strip(): text.count(mark) for mark in LOG_MARKS if mark in text}
        if found:
            marks[log.stem] = found
    return {"complaints": complaints, "tasks": tasks, "unresumed": unresumed, "log_marks": marks}


def report(
    load: Phase,
    baseline: dict[str, Any],
    loaded: dict[str, Any],
    sampler: Sampler,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    after: dict[str, Any],
) -> list[str]:
    """Return the printed table and the lines under it."""
    dialect = get_engine().dialect.name
    lines = [
        f"Front-desk day under load (embedded stack: Prefect server, runner, inbox API, mail "
        f"sink; {dialect} app DB; {os.cpu_count()} CPUs, load generator on the same machine)",
        f"  load:     {load.describe()}",
        f"  baseline: {BASELINE.describe()}, measured first in the same run"
        + ("" if after["settled"] else " (the stack had not settled: flow runs still running)"),
        f"  {'route':<34} {'n':>6} {'fail':>5} {'req/s':>6} {'p50 ms':>7} {'p95 ms':>7}"
        f" | {'base n':>6} {'p50 ms':>7} {'p95 ms':>7} | {'p95 ×':>6}",
    ]
    routes = sorted(set(loaded["routes"]) | set(baseline["routes"]))
    for route in [*routes, "total"]:
        now = loaded["total"] if route == "total" else loaded["routes"].get(route, {})
        base = baseline["total"] if route == "total" else baseline["routes"].get(route, {})
        ratio = (f"{now['p95_ms'] / base['p95_ms']:6.1f}"
                 if now.get("p95_ms") and base.get("p95_ms") else f"{'–':>6}")  # fmt: skip
        lines.append(
            f"  {route:<34} {now.get('requests', 0):>6} {now.get('failures', 0):>5}"
            f" {now.get('per_second', 0):>6.1f} {_ms(now.get('p50_ms'))} {_ms(now.get('p95_ms'))}"
            f" | {base.get('requests', 0):>6} {_ms(base.get('p50_ms'))} {_ms(base.get('p95_ms'))}"
            f" | {ratio}"
        )
    lines.append(
        f"  errors under load: {loaded['total']['failures']} of {loaded['total']['requests']}"
        f" requests in {loaded['seconds']:.0f} s (req/s: over the"
        f" {loaded['full_strength_seconds']} s all at work);"
        f" baseline {baseline['total']['failures']}"
    )
    for error in loaded["errors"][:8]:
        lines.append(f"    {error['count']:>5} × {error['route']}: {error['error'][:110]}")
    for what, count in sorted(loaded["outcomes"].items()):
        lines.append(f"  {what}: {count}")
    lines.append(
        f"  after the run: complaints {after['complaints']}, tasks {after['tasks']},"
        f" completions not yet taken by their flow {after['unresumed']};"
        f" Prefect flow runs at the end of the load {after['prefect_backlog']}"
    )
    if after["log_marks"]:
        lines.append(f"  stack log lines: {after['log_marks']}")
    memory = ", ".join(
        f"{name} {sampler.first_mib[name]:.0f}→{peak:.0f}"
        for name, peak in sampler.peak_mib.items()
    )
    lines.append(
        f"  peak RSS under load, MiB (start→peak, each process tree): {memory};"
        f" total peak {sampler.peak_total_mib:.0f} MiB over up to {sampler.peak_processes}"
        " processes (forked flow runs share pages: an upper bound)"
    )
    before, after_load = loads
    lines.append(
        f"  load average: before the stack {before[0]:.2f}, peak 1-min {sampler.peak_load:.2f},"
        f" at the end {after_load[0]:.2f}/{after_load[1]:.2f}/{after_load[2]:.2f} (1/5/15 min)"
    )
    generator = loaded["generator_cpu_s"]
    others = max(0.0, sampler.busy_cpu_s - sampler.stack_cpu_s - generator)
    capacity = sampler.wall_s * (os.cpu_count() or 1)
    lines.append(
        f"  CPU seconds during the load, of {capacity:.0f} available: stack"
        f" {sampler.stack_cpu_s:.0f}, load generator {generator:.0f}"
        f" ({loaded['generator_peak_rss_mib']:.0f} MiB, {loaded['generator_cpu_warnings']}"
        f" CPU warnings), other processes on the machine {others:.0f}"
    )
    return lines


def _ms(value: float | None) -> str:
    return f"{value:>7.0f}" if value is not None else f"{'–':>7}"
