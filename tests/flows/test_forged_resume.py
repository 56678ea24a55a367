"""A flow takes a person's decision only from the inbox, never from a resume through Prefect."""

from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import select

from db.models import Event, InboxTask, TaskState
from db.session import transaction
from launch.embedded import Stack, eventually
from tasks.human import is_pause_of, pause_key
from tests.flows.test_complaint import new_complaint
from tests.flows.test_complaint_resilience import history_kinds, paused_run_of


def test_pause_keys_of_later_rounds_belong_to_their_step_only() -> None:
    assert pause_key("first-response", 0) == "first-response"
    assert is_pause_of(pause_key("first-response", 2), "first-response")
    assert is_pause_of("first-response", "first-response")
    assert not is_pause_of("follow-up-1", "follow-up")
    assert not is_pause_of(pause_key("follow-up", 1), "follow")
    assert not is_pause_of(None, "first-response")


def pause_key_of(flow_run_id: UUID) -> str | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state.state_details.pause_key if state is not None and state.is_paused() else None


def forged_resume(flow_run_id: UUID, decision: dict[str, Any]) -> None:
    """Resume the run straight through Prefect's API, as anyone who can reach it could."""
    with get_client(sync_client=True) as client:
        outcome = client.resume_flow_run(flow_run_id, run_input=decision)
    assert outcome.status.value == "ACCEPT", outcome.details


@pytest.mark.e2e
def test_a_resume_through_prefect_with_a_made_up_decision_changes_nothing(stack: Stack) -> None:
    staff = stack.login("zhangmin")
    process_id = new_complaint(staff)
    task = staff.open_task(process_id, "complaint.first-response")
    flow_run_id = paused_run_of(task["id"])

    forged_resume(flow_run_id, {"response_note": "伪造的处理意见"})

    # The run replays, finds the inbox task still open and waits again on the same step.
    eventually(
        lambda: pause_key_of(flow_run_id) == pause_key("first-response", 1),
        "the flow to wait again on its first response",
    )
    assert staff.ok("GET", f"/tasks/{task['id']}")["state"] == TaskState.OPEN
    kinds = history_kinds(stack, process_id)
    assert "complaint_responded" not in kinds
    assert kinds.count("resumed_outside_inbox") == 1
    with transaction() as session:
        assert session.get_one(InboxTask, task["id"]).result is None

    # A second forged resume is caught the same way, one round further.
    forged_resume(flow_run_id, {"response_note": "再次伪造"})
    eventually(
        lambda: pause_key_of(flow_run_id) == pause_key("first-response", 2),
        "the flow to wait again after the second forged resume",
    )
    assert history_kinds(stack, process_id).count("resumed_outside_inbox") == 2

    # The person's own decision through the inbox still goes through, once.
    done = staff.complete(task["id"], {"response_note": "已电话联系业主"})
    assert done["resumed"] is True
    staff.open_task(process_id, "complaint.resolution")
    with transaction() as session:
        notes = session.scalars(
            select(Event.data).where(
                Event.process_id == process_id, Event.kind == "complaint_responded"
            )
        )
        assert [data["note"] for data in notes] == ["已电话联系业主"]
    assert history_kinds(stack, process_id).count("resumed_outside_inbox") == 2
