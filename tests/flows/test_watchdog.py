"""No silent death: the watchdog starts over a process whose flow run died or got stuck."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.states import Crashed, Failed, Pending, State
from sqlalchemy import func, select

from db.base import utcnow
from db.models import Event, InboxTask, Process
from db.session import transaction
from domain import watchdog
from launch.embedded import Stack, eventually
from tasks.human import pause_key
from tests.flows.test_complaint import new_complaint
from tests.flows.test_complaint_resilience import history_kinds, paused_run_of
from tests.flows.test_forged_resume import pause_key_of
from tests.support.web import logged_in

pytestmark = pytest.mark.e2e

# Past the policy's bound for a run stuck starting or running (15 minutes by default).
LATER = timedelta(minutes=20)


WATCHDOG = "process-watchdog/process-watchdog"


@pytest.fixture(autouse=True)
def scheduled_watchdog_paused(stack: Stack) -> Iterator[None]:
    """Keep the scheduled watchdog out of the way: each test runs it at the moments it means."""
    with get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(WATCHDOG).id
        client.pause_deployment(deployment_id)

        def none_running() -> bool:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
                    )
                ),
                sort=FlowRunSort.ID_DESC,
                limit=1,
            )
            return not runs

        eventually(none_running, "the scheduled watchdog's run in progress to finish")
        yield
        client.resume_deployment(deployment_id)


def run_watchdog(now: datetime, **policy: Any) -> dict[str, int]:
    """Run the watchdog deployment once through Prefect at `now`; return its report."""
    parameters: dict[str, Any] = {"now": now.isoformat()}
    if policy:
        parameters["policy"] = policy
    flow_run = run_deployment(WATCHDOG, parameters=parameters, timeout=120)
    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    result = flow_run.state.result()
    assert isinstance(result, dict)
    return result


def force(flow_run_id: UUID, state: State[Any]) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, state, force=True)


def opened(process_id: str, step: str) -> int:
    with transaction() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Event.process_id == process_id,
                    Event.kind == "task_opened",
                    Event.data["step"].as_string() == step,
                )
            )
            or 0
        )


MISHAPS = {
    "crashed": lambda: Crashed(),
    "failed": lambda: Failed(),
    "stuck submitting": lambda: Pending(name="Submitting"),
}


@pytest.mark.parametrize("mishap", MISHAPS)
def test_a_process_whose_run_died_or_stuck_starts_over_and_goes_on(
    stack: Stack, mishap: str
) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")
    flow_run_id = paused_run_of(task["id"])

    force(flow_run_id, MISHAPS[mishap]())
    run_watchdog(utcnow() + LATER)

    # The replay finds its task still open and waits on it again; nothing opens twice.
    eventually(
        lambda: pause_key_of(flow_run_id) == pause_key("first-response", 1),
        "the restarted run to wait on its first response again",
    )
    assert "process_restarted" in history_kinds(stack, process_id)
    assert opened(process_id, "complaint.first-response") == 1
    assert "resumed_outside_inbox" not in history_kinds(stack, process_id)
    # The person's decision goes through as ever.
    assert staff.complete(task["id"], {"response_note": "已电话联系"})["resumed"] is True
    staff.open_task(process_id, "complaint.resolution")
    assert opened(process_id, "complaint.first-response") == 1


def test_a_run_prefect_lost_is_replaced_and_reads_the_decision_taken_meanwhile(
    stack: Stack,
) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")
    lost_run_id = paused_run_of(task["id"])
    with get_client(sync_client=True) as client:
        client.delete_flow_run(lost_run_id)
    # Decided while the run is gone: kept in the inbox, no task of the process left open.
    assert staff.complete(task["id"], {"response_note": "已电话联系"})["resumed"] is False

    run_watchdog(utcnow())

    staff.open_task(process_id, "complaint.resolution")
    assert opened(process_id, "complaint.first-response") == 1
    with transaction() as session:
        process = session.get_one(Process, process_id)
        assert process.flow_run_id not in (None, str(lost_run_id))
        assert session.get_one(InboxTask, task["id"]).flow_run_id == process.flow_run_id
    assert "process_restarted" in history_kinds(stack, process_id)


def test_a_process_that_keeps_dying_is_flagged_for_ops_instead_of_restarted_forever(
    stack: Stack,
) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")
    flow_run_id = paused_run_of(task["id"])
    one_restart = {"max_restarts": 1}

    force(flow_run_id, Crashed())
    run_watchdog(utcnow(), **one_restart)
    # It dies again after each restart, with nothing done in between, until flagged (a tick of
    # the scheduled watchdog that slipped in before its pause may restart it once more).
    for _ in range(3):
        eventually(lambda: pause_key_of(flow_run_id) is not None, "the run to wait again")
        force(flow_run_id, Crashed())
        if run_watchdog(utcnow(), **one_restart)["flagged"] == 1:
            break
    else:
        pytest.fail("the process was never flagged")

    with transaction() as session:
        flagged = {p.process_id: p for p in watchdog.flagged_processes(session, 100)}
        assert flagged[process_id].reason == "crashed"
        assert watchdog.flagged_count(session) >= 1
    # Flagged once; later ticks leave it to ops, and its run stays as it died.
    assert run_watchdog(utcnow(), **one_restart)["flagged"] == 0
    assert history_kinds(stack, process_id).count("process_flagged") == 1
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    assert state is not None and state.is_crashed()
    # Ops see it on the deliveries page, and its count on the dashboard.
    admin = logged_in(stack.app, "admin")
    problems = admin.get("/admin/outbox")
    assert problems.status_code == 200
    section = problems.text.split('data-testid="stuck-processes"', 1)[1]
    assert f"/processes/{process_id}" in section
    dashboard = admin.get("/dashboard")
    assert 'data-testid="stuck-processes"' in dashboard.text
    assert (
        'data-testid="stuck-processes"' not in logged_in(stack.app, "lihua").get("/dashboard").text
    )
