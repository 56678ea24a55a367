"""The REST API's task hand-overs: the picker lists only who may decide, and the rest is refused."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from db.base import utcnow
from db.models import Event, InboxTask, ProcessKind, Role
from db.session import transaction
from domain.inbox import open_task
from domain.people import users_with_role
from domain.steps import HumanRequest
from flows.training_plan import APPROVE
from launch.demo import DEMO_PASSWORD
from tests.support.factories import case, person

API = "/api/v1"


@pytest.fixture
def api(demo_org: None) -> Iterator[TestClient]:
    from inbox.api.app import create_app

    with TestClient(create_app()) as client:
        yield client


def headers(api: TestClient, username: str) -> dict[str, str]:
    token = api.post(
        f"{API}/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"}


def approval_drafted_by_zhaolei() -> int:
    """Return the id of the approval of a plan zhaolei drafted, in the site managers' queue."""
    with transaction() as session:
        drafter = person(session, "zhaolei")
        plan = case(session, ProcessKind.TRAINING_PLAN, drafter, drafter=drafter)
        request = HumanRequest(
            process_id=plan.id, key="draft-approval-1-1", site_id=drafter.site_id,
            candidate_role=str(Role.SITE_MANAGER),
        )  # fmt: skip
        return open_task(session, APPROVE, request, str(uuid.uuid4()), utcnow()).id


def test_the_reassign_picker_lists_only_approvers_and_a_front_desk_target_is_refused(
    api: TestClient,
) -> None:
    task_id = approval_drafted_by_zhaolei()
    drafter = headers(api, "zhaolei")

    listed = api.get(f"{API}/tasks/{task_id}/assignees", headers=drafter)
    assert listed.status_code == 200
    with transaction() as session:
        managers = {
            u.id
            for u in users_with_role(session, person(session, "zhaolei").site_id, Role.SITE_MANAGER)
        }
        zhangmin = person(session, "zhangmin").id
    assert {row["id"] for row in listed.json()} == managers

    refused = api.post(
        f"{API}/tasks/{task_id}/reassign",
        json={"to_user_id": zhangmin, "reason": "她有空"},
        headers=drafter,
    )
    assert refused.status_code == 422
    assert "此人没有处理这一步骤的角色" in refused.text and "to_user_id" in refused.text
    with transaction() as session:
        assert session.get_one(InboxTask, task_id).assignee_id is None


def test_only_an_ops_admin_may_enter_a_decision_on_someones_behalf(api: TestClient) -> None:
    task_id = approval_drafted_by_zhaolei()
    body = {"on_behalf_of_id": 0, "reason": "电话授权", "decision": {"outcome": "approve"}}
    with transaction() as session:
        body["on_behalf_of_id"] = person(session, "chenjing").id

    refused = api.post(
        f"{API}/tasks/{task_id}/complete-on-behalf", json=body, headers=headers(api, "lihua")
    )

    assert refused.status_code == 403
    with transaction() as session:
        assert session.get_one(InboxTask, task_id).state == "open"
        completed = select(Event.id).where(Event.task_id == task_id, Event.kind == "task_completed")
        assert session.scalars(completed).all() == []
