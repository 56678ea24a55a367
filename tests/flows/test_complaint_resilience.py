"""The human step under stress: double submits, a stopped Prefect server, a complaint left alone."""

import threading
from datetime import datetime, timedelta
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Crashed

from db.base import utcnow
from db.models import InboxTask, TaskState
from db.session import transaction
from launch.embedded import Stack, eventually
from tasks.human import AHEAD_RECHECK
from tests.flows.test_complaint import new_complaint
from tests.support.factories import complaint_task, person

# Five runs of the minute sweep: one that lands late on a loaded machine leaves time for more.
LATER_SWEEPS_SECONDS = 300

pytestmark = pytest.mark.e2e


def history_kinds(stack: Stack, process_id: str) -> list[str]:
    view = stack.login("zhangmin").ok("GET", f"/processes/{process_id}")
    return [e["kind"] for e in view["events"]]


def test_two_concurrent_completions_one_wins_the_other_gets_409(stack: Stack) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def submit() -> None:
        client = stack.login("zhangmin")
        barrier.wait()
        response = client.post(f"/tasks/{task['id']}/complete", json={"response_note": "已联系"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 409]
    staff.open_task(process_id, "complaint.resolution")
    assert history_kinds(stack, process_id).count("task_completed") == 1
    assert history_kinds(stack, process_id).count("complaint_responded") == 1


def test_work_done_while_prefect_is_down_goes_on_when_it_returns(stack: Stack) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")

    stack.stop_prefect_server()
    try:
        done = staff.complete(task["id"], {"response_note": "已电话联系"})
        assert done["resumed"] is False
        assert done["task"]["state"] == "done"
        # A complaint filed meanwhile is kept, waiting for its process to start.
        waiting = staff.ok("POST", "/complaints", json={
            "resident_name": "李女士", "unit": "5-2-301", "contact_phone": "13900139000",
            "channel": "front_desk", "category": "repair", "urgency": "general",
            "description": "厨房水管漏水",
        })  # fmt: skip
        assert waiting["state"] == "starting"
    finally:
        stack.start_prefect_server()

    # The minute sweep resumes and starts what was missed: run here as the served deployment,
    # unless the scheduled one that fell due during the outage got there first.
    run_sweep(stack)
    # A restarted run may still be on its way to the pause: the resume is retried by later sweeps
    # (the scheduled one, every minute), so the wait allows several of them under a busy suite.
    eventually(
        lambda: staff.ok("GET", f"/tasks/{task['id']}")["resumed"],
        "the completion to resume",
        LATER_SWEEPS_SECONDS,
    )
    assert staff.ok("GET", f"/processes/{waiting['process_id']}")["state"] == "running"
    staff.open_task(process_id, "complaint.resolution")
    staff.open_task(waiting["process_id"], "complaint.first-response")


def paused_run_of(task_id: int) -> UUID:
    """Wait until the task's flow run is suspended on it; return the run's id."""
    with transaction() as session:
        task = session.get_one(InboxTask, task_id)
        flow_run_id, step_key = UUID(task.flow_run_id), task.step_key

    def paused() -> bool:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run_id).state
        return bool(state and state.is_paused() and state.state_details.pause_key == step_key)

    eventually(paused, f"the flow to suspend on {step_key}")
    return flow_run_id


@pytest.mark.parametrize("mishap", ["pause lost its input schema", "run crashed"])
def test_a_run_left_unresumable_by_a_mishap_goes_on_from_the_stored_decision(
    stack: Stack, mishap: str
) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")
    flow_run_id = paused_run_of(task["id"])
    with get_client(sync_client=True) as client:
        if mishap == "run crashed":
            client.set_flow_run_state(flow_run_id, Crashed(), force=True)
        else:  # as when the server stops between the pause and the schema's write
            state = client.read_flow_run(flow_run_id).state
            assert state is not None and state.state_details.run_input_keyset
            schema_key = state.state_details.run_input_keyset["schema"]
            client.delete_flow_run_input(flow_run_id, key=schema_key)

    done = staff.complete(task["id"], {"response_note": "已电话联系"})

    assert done["resumed"] is True
    staff.open_task(process_id, "complaint.resolution")
    assert history_kinds(stack, process_id).count("complaint_responded") == 1


def run_sweep(stack: Stack, now: datetime | None = None) -> dict[str, int]:
    """Run the sweep deployment once through Prefect and return its report."""
    parameters = {"now": now.isoformat()} if now else {}
    flow_run = run_deployment("sla-sweep/sla-sweep", parameters=parameters, timeout=120)
    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    result = flow_run.state.result()
    assert isinstance(result, dict)
    return result


def test_a_completion_whose_flow_run_prefect_lost_is_reported_and_the_sweep_goes_on(
    stack: Stack,
) -> None:
    with transaction() as session:
        orphan = complaint_task(session, utcnow())  # a flow run id Prefect never saw
        orphan.state, orphan.completed_at = TaskState.DONE, utcnow()
        orphan.resume_retry_at = orphan.completed_at
        orphan.result = {"response_note": "已联系"}
        session.flush()
        orphan_id = orphan.id

    report = run_sweep(stack)  # completes: the orphan does not stop the other parts

    assert {"announced", "escalated", "started"} <= report.keys()
    with transaction() as session:
        orphan = session.get_one(InboxTask, orphan_id)
        assert orphan.resumed_at is None
        assert orphan.resume_error is not None and "ObjectNotFound" in orphan.resume_error


def test_a_completion_made_ahead_of_its_step_waits_for_the_flow_instead_of_every_sweep(
    stack: Stack,
) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    current = staff.open_task(process_id, "complaint.first-response")
    paused_run_of(current["id"])
    with transaction() as session:  # a later step opened ahead, as a plan's session records are
        waited_on = session.get_one(InboxTask, current["id"])
        ahead = InboxTask(
            process_id=process_id, flow_run_id=waited_on.flow_run_id, step_key="follow-up-1",
            step=waited_on.step, site_id=waited_on.site_id, assignee_id=waited_on.assignee_id,
            owner_of_record_id=waited_on.owner_of_record_id, context=waited_on.context,
        )  # fmt: skip
        session.add(ahead)
        session.flush()
        ahead_id = ahead.id

    before = utcnow()
    done = staff.complete(ahead_id, {"response_note": "提前记录"})

    assert done["resumed"] is True  # stored is enough: the flow reads it when it gets there
    with transaction() as session:
        row = session.get_one(InboxTask, ahead_id)
        assert row.resumed_at is None and row.resume_error is None
        assert row.resume_retry_at is not None
        retry_at = row.resume_retry_at
    assert before + AHEAD_RECHECK <= retry_at <= utcnow() + AHEAD_RECHECK
    # The minute's sweep leaves it alone (no Prefect read) and does not count it as resumed.
    assert run_sweep(stack)["resumed"] == 0
    with transaction() as session:
        assert session.get_one(InboxTask, ahead_id).resume_retry_at == retry_at
    # When it is due again it is looked at once more, and still left for the flow.
    looked_at = retry_at + timedelta(seconds=1)
    assert run_sweep(stack, looked_at)["resumed"] == 0
    with transaction() as session:
        assert session.get_one(InboxTask, ahead_id).resume_retry_at == looked_at + AHEAD_RECHECK
    # The step the flow waits on is untouched: its own completion goes on as ever.
    assert staff.complete(current["id"], {"response_note": "已电话联系"})["resumed"] is True
    staff.open_task(process_id, "complaint.resolution")


def test_complaint_left_alone_climbs_to_the_shift_lead(stack: Stack) -> None:
    staff, lead = stack.login("zhangmin"), stack.login("lihua")
    process_id = new_complaint(staff, urgency="urgent")
    task = staff.open_task(process_id, "complaint.first-response")
    due = datetime.fromisoformat(task["due_at"])
    assert timedelta(hours=1, minutes=59) < due - datetime.now(due.tzinfo) <= timedelta(hours=2)

    report = run_sweep(stack, due + timedelta(seconds=1))
    assert report["escalated"] >= 1

    escalated = lead.open_task(process_id, "complaint.first-response", scope="queue")
    assert escalated["tier"] == "shift_lead" and escalated["assignee_id"] is None
    assert escalated["owner_of_record_id"] == task["owner_of_record_id"]
    # The owner of record still sees the case and may still act on it.
    assert staff.ok("GET", f"/tasks/{task['id']}")["id"] == task["id"]
    view = staff.ok("GET", f"/processes/{process_id}")
    [climb] = [e for e in view["events"] if e["kind"] == "task_escalated"]
    assert climb["data"]["to_role"] == "shift_lead"
    assert climb["data"]["from_user_id"] == task["owner_of_record_id"]

    lead.ok("POST", f"/tasks/{task['id']}/claim")
    lead.complete(task["id"], {"response_note": "班长已致电业主致歉"})
    staff.open_task(process_id, "complaint.resolution")


def test_bad_input_is_refused_field_by_field_and_changes_nothing(stack: Stack) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")
    before = history_kinds(stack, process_id)

    missing = staff.post(f"/tasks/{task['id']}/complete", json={})
    assert missing.status_code == 422
    [problem] = missing.json()["error"]["fields"]
    assert problem["field"] == "response_note"
    assert problem["message"] == "响应说明: 必填"

    english = stack.login("zhangmin", language="en").post(
        f"/tasks/{task['id']}/complete", json={"response_note": "", "extra": 1}
    )
    assert english.status_code == 422
    assert {f["message"] for f in english.json()["error"]["fields"]} == {
        "Response note: Must not be empty",
        "extra: This field is not part of the form",
    }

    unknown = staff.post("/tasks/999999/complete", json={"response_note": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "任务 999999 不存在"

    # Another staff member can neither see nor complete someone else's task.
    other = stack.login("wangqiang")
    assert other.get(f"/tasks/{task['id']}").status_code == 404
    assert (
        other.post(f"/tasks/{task['id']}/complete", json={"response_note": "x"}).status_code == 404
    )

    bad_intake = staff.post("/complaints", json={
        "resident_name": "王先生", "unit": "1-1", "contact_phone": "abc", "channel": "fax",
        "category": "noise", "urgency": "urgent", "description": "噪音",
    })  # fmt: skip
    assert bad_intake.status_code == 422
    by_field = {f["field"]: f["message"] for f in bad_intake.json()["error"]["fields"]}
    assert by_field["contact_phone"] == "联系电话: 格式不正确"
    assert by_field["channel"].startswith("受理渠道: 只能是以下之一")

    assert history_kinds(stack, process_id) == before
    assert staff.ok("GET", f"/tasks/{task['id']}")["state"] == "open"

    staff.complete(task["id"], {"response_note": "已联系"})
    resolution = staff.open_task(process_id, "complaint.resolution")
    wrong_type = staff.post(
        f"/tasks/{resolution['id']}/complete",
        json={"outcome": "dispatch", "summary": "转工程", "department": "plumbing"},
    )
    assert wrong_type.status_code == 422
    [problem] = wrong_type.json()["error"]["fields"]
    assert problem["field"] == "department"
    assert "engineering" in problem["message"]


def test_each_role_is_refused_what_it_may_not_do(stack: Stack) -> None:
    staff, engineer = stack.login("zhangmin"), stack.login("liugong")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")

    assert engineer.post("/complaints", json={}).status_code == 422
    intake = {
        "resident_name": "王先生", "unit": "1-1", "contact_phone": "13800138000",
        "channel": "phone", "category": "noise", "urgency": "general", "description": "x",
    }  # fmt: skip
    refused = engineer.post("/complaints", json=intake)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "只有客服人员可以登记投诉"
    assert staff.get("/tasks", params={"scope": "team"}).status_code == 403
    reassign = staff.post(f"/tasks/{task['id']}/reassign", json={"to_user_id": 1, "reason": "x"})
    assert reassign.status_code == 403
    assert staff.post(f"/tasks/{task['id']}/claim").status_code == 403
    assert httpx.get(f"{stack.config.api_url}/api/v1/tasks").status_code == 401

    # A shift lead may reassign within the site, with a reason; the new holder then has it.
    lead, colleague = stack.login("lihua"), stack.login("wangqiang")
    with transaction() as session:
        colleague_id = person(session, "wangqiang").id
    no_reason = lead.post(
        f"/tasks/{task['id']}/reassign", json={"to_user_id": colleague_id, "reason": " "}
    )
    assert no_reason.status_code == 422
    moved = lead.ok("POST", f"/tasks/{task['id']}/reassign",
                    json={"to_user_id": colleague_id, "reason": "值班调整"})  # fmt: skip
    assert moved["assignee_id"] == colleague_id
    assert colleague.ok("GET", f"/tasks/{task['id']}")["assignee_id"] == colleague_id
    assert (
        staff.post(f"/tasks/{task['id']}/complete", json={"response_note": "x"}).status_code == 403
    )
    assert "task_reassigned" in history_kinds(stack, process_id)
