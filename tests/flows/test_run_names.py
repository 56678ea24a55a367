"""Operators find a case in the Prefect UI: business names and tags; old housekeeping runs go."""

import uuid
from datetime import timedelta
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound
from prefect.states import Completed
from sqlalchemy import select

from db.models import Process, Site
from db.session import transaction
from flows.outbox_sender import outbox_sender
from flows.run_retention import run_retention, save_run_filters
from launch.embedded import Stack
from tasks.run_names import HOUSEKEEPING_TAG, PROCESS_TAG
from tests.flows.test_complaint import new_complaint

pytestmark = pytest.mark.e2e


def test_a_started_complaint_runs_under_its_business_name_and_tags(stack: Stack) -> None:
    staff = stack.login("zhangmin")
    unit = f"3-1-{uuid.uuid4().hex[:4]}"
    process_id = new_complaint(staff, unit=unit, description="楼上深夜装修")
    with transaction() as session:
        flow_run_id, site_code = session.execute(
            select(Process.flow_run_id, Site.code)
            .join(Site, Site.id == Process.site_id)
            .where(Process.id == process_id)
        ).one()
    # Waiting on the first step: the run has started, so its flow has named it too.
    staff.open_task(process_id, "complaint.first-response")

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))

    assert run.name == f"投诉 {unit} 楼上深夜装修 #{process_id[:8]}"
    assert {PROCESS_TAG, "complaint", f"site:{site_code}"} <= set(run.tags)
    assert HOUSEKEEPING_TAG not in run.tags


def _ended_run(tags: list[str]) -> FlowRun:
    """Return a flow run created with `tags` and moved to completed, so it has an end time."""
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(outbox_sender, tags=tags)
        client.set_flow_run_state(run.id, Completed(), force=True)
        return client.read_flow_run(run.id)


def _exists(run: FlowRun) -> bool:
    with get_client(sync_client=True) as client:
        try:
            client.read_flow_run(run.id)
        except ObjectNotFound:
            return False
    return True


def test_retention_deletes_old_housekeeping_runs_only(stack: Stack) -> None:
    old_housekeeping = _ended_run([HOUSEKEEPING_TAG])
    old_case = _ended_run([PROCESS_TAG, "complaint"])
    recent_housekeeping = _ended_run([HOUSEKEEPING_TAG])
    assert old_case.end_time and recent_housekeeping.end_time
    assert old_case.end_time < recent_housekeeping.end_time
    # The clock of the run: three days after a moment between the old runs and the recent one.
    cutoff = old_case.end_time + (recent_housekeeping.end_time - old_case.end_time) / 2

    deleted = run_retention(now=cutoff + timedelta(days=3), keep_days=3)

    assert deleted >= 1
    assert not _exists(old_housekeeping)
    assert _exists(old_case)
    assert _exists(recent_housekeeping)


def test_the_prefect_ui_gets_saved_filters_of_cases_and_housekeeping(stack: Stack) -> None:
    names = save_run_filters.fn()

    with get_client(sync_client=True) as client:
        saved = client.request("POST", "/saved_searches/filter", json={}).json()
    by_name = {search["name"]: search["filters"] for search in saved}
    assert names == ["业务流程", "例行任务"]
    assert [f["value"] for f in by_name["业务流程"]] == [[PROCESS_TAG]]
    assert [f["value"] for f in by_name["例行任务"]] == [[HOUSEKEEPING_TAG]]
