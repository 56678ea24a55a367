"""Human-step turnaround: the complete call returns → the next task is visible in the inbox.

Measured over a complaint whose owner dispatches it to engineering again and again (each round
is two human steps), next to the raw Prefect floor: a trivial deployed flow suspended and
resumed with no inbox work, measured in the same run on the same server. Then the same steps
again with the runner restarted on cold starts (each flow run a fresh interpreter, as before
KEFU_RUNNER_WARM_STARTS), the baseline the warm starts are judged by.
"""

import sys
import time
import uuid
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import resume_flow_run

from bench.environment import RUN_DIR, percentile
from bench.floor_flow import DEPLOYMENT
from config import get_settings
from db.migrate import upgrade
from db.session import transaction
from launch.demo import seed_demo
from launch.embedded import ApiClient, Stack, eventually
from launch.processes import wait_until
from launch.stack import deployments_served

ROUNDS = 10  # two steps a round: at least 20 measured steps
INTAKE = {
    "resident_name": "基准",
    "contact_phone": "13800138000",
    "channel": "phone",
    "category": "repair",
    "urgency": "general",
    "description": "基准测试",
}


def run(prefect_port: int) -> list[str]:
    """Run both measurements on one stack and return the lines to print."""
    upgrade(get_settings().database_url)
    with transaction() as session:
        seed_demo(session)
    stack = Stack(RUN_DIR, prefect_port)
    stack.start()
    try:
        floor = prefect_floor(stack)
        inbox = human_steps(stack)
        restart_runner(stack, {"KEFU_RUNNER_WARM_STARTS": "false"})
        cold = human_steps(stack)
    finally:
        stack.stop()
    return report(inbox, floor, cold)


def restart_runner(stack: Stack, settings: dict[str, str]) -> None:
    """Start the stack's runner again with `settings` added to its environment."""
    stack.group.stop("runner")
    env = {**stack.config.environment(), **settings}
    runner = stack.group.start("runner", [sys.executable, "-m", "launch.runner"], env)
    stack.group.wait_ready(runner, deployments_served(stack.config))


def human_steps(stack: Stack) -> list[float]:
    """Return seconds from each complete call's return to the next task showing in the inbox."""
    staff, engineer = stack.login("zhangmin"), stack.login("liugong")
    intake = {**INTAKE, "unit": f"B-{uuid.uuid4().hex[:6]}"}
    created = staff.ok("POST", "/complaints", json=intake)
    process_id = created["process_id"]
    task = staff.open_task(process_id, "complaint.first-response")
    samples: list[float] = []
    samples.append(timed(staff, task["id"], {"response_note": "ok"}, staff, process_id,
                         "complaint.resolution", "mine"))  # fmt: skip
    for _ in range(ROUNDS):
        task = staff.open_task(process_id, "complaint.resolution")
        dispatch = {"outcome": "dispatch", "summary": "派工程", "department": "engineering"}
        samples.append(timed(staff, task["id"], dispatch, engineer, process_id,
                             "complaint.department-work", "queue"))  # fmt: skip
        work = engineer.open_task(process_id, "complaint.department-work", scope="queue")
        engineer.ok("POST", f"/tasks/{work['id']}/claim")
        samples.append(timed(engineer, work["id"], {"work_done": "ok"}, staff, process_id,
                             "complaint.resolution", "mine"))  # fmt: skip
    return samples


def timed(
    actor: ApiClient,
    task_id: int,
    decision: dict[str, Any],
    next_holder: ApiClient,
    process_id: str,
    next_step: str,
    scope: str,
) -> float:
    """Complete a task and return seconds from the call's return until the next task shows."""
    known = {t["id"] for t in next_holder.ok("GET", "/tasks", params={"scope": scope})}
    actor.complete(task_id, decision)
    returned = time.perf_counter()

    def next_visible() -> bool:
        tasks = next_holder.ok("GET", "/tasks", params={"scope": scope})
        return any(t["process_id"] == process_id and t["step"] == next_step
                   and t["id"] not in known for t in tasks)  # fmt: skip

    eventually(next_visible, f"{next_step} after task {task_id}")
    return time.perf_counter() - returned


def prefect_floor(stack: Stack) -> list[float]:
    """Return seconds from each resume call's return to the flow's next suspension."""
    runner = stack.group.start(
        "bench-floor-runner", [sys.executable, "-m", "bench.floor_flow"], stack.config.environment()
    )
    with get_client(sync_client=True) as client:
        wait_until(lambda: _deployment_exists(client), "the floor deployment", 60)
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        flow_run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"steps": 2 * ROUNDS + 2}
        )
        samples = []
        wait_until(lambda: _paused_at(client, flow_run.id, "step-0"), "first suspension", 60)
        for step in range(2 * ROUNDS + 1):
            resume_flow_run(flow_run.id, run_input={"step": step})
            returned = time.perf_counter()
            wait_until(lambda s=step: _paused_at(client, flow_run.id, f"step-{s + 1}"),
                       "next suspension", 60, 0.05)  # fmt: skip
            samples.append(time.perf_counter() - returned)
    stack.group.stop(runner.name)
    return samples


def _deployment_exists(client: Any) -> bool:
    try:
        client.read_deployment_by_name(DEPLOYMENT)
    except ObjectNotFound:
        return False
    return True


def _paused_at(client: Any, flow_run_id: UUID, key: str) -> bool:
    state = client.read_flow_run(flow_run_id).state
    return bool(state and state.is_paused() and state.state_details.pause_key == key)


def report(inbox: list[float], floor: list[float], cold: list[float]) -> list[str]:
    """Return the printed table: p50 and p95 of each, and their ratios."""
    lines = [
        f"human-step turnaround ({len(inbox)} steps; floor {len(floor)} resumes; SQLite app DB)"
    ]
    measured = (
        ("kefu-flow inbox step", inbox),
        ("raw Prefect floor", floor),
        ("inbox, cold starts", cold),
    )
    for name, samples in measured:
        p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
        lines.append(f"  {name:<22} p50 {p50 * 1000:8.0f} ms   p95 {p95 * 1000:8.0f} ms")
    for name, base in (("inbox/floor", floor), ("inbox/cold starts", cold)):
        ratio50 = percentile(inbox, 0.5) / percentile(base, 0.5)
        ratio95 = percentile(inbox, 0.95) / percentile(base, 0.95)
        lines.append(f"  ratio {name:<17} p50 {ratio50:8.2f} ×    p95 {ratio95:8.2f} ×")
    return lines
