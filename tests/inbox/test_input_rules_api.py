"""Inputs the API refuses before anything is stored, with field errors in Chinese: invisible
names, an oversized reassignment reason; and a training plan hidden from people it does not
involve, on its own page and on the case page alike."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Process, Role, User, UserRole
from domain import inbox
from domain import training_plan as plans
from domain.people import hash_password
from domain.steps import HumanRequest, HumanStep
from flows.catalog import STEPS
from flows.training_plan import APPROVE, DRAFT
from forms.training_plan import PlanDecision, PlanDocument, PlanKind, TrainingPlanCreate
from inbox.api.routes import complaints, onboarding, tasks, training_plan
from inbox.api.routes import processes as process_routes
from rules.training_plan import load_policy
from tests.support.api import api_clients
from tests.support.factories import person

NOW = datetime(2029, 12, 3, 2, 0, tzinfo=UTC)
# Zero-width space, zero-width joiner, word joiner, BOM and a Hangul filler: shows as nothing.
INVISIBLE = "\u200b\u200d\u2060\ufeff\u3164"


@pytest.fixture
def client_for(session: Session) -> Iterator[Callable[[User], TestClient]]:
    routers = [r.router for r in (complaints, onboarding, tasks, training_plan, process_routes)]
    with api_clients(session, routers, NOW) as client:
        yield client


def field_messages(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    return {f["field"]: f["message"] for f in body["error"]["fields"]}


def new_colleague(session: Session, role: Role) -> User:
    """Add a colleague with `role` at the demo site."""
    user = User(
        username=f"u-{uuid.uuid4().hex[:6]}",
        display_name="同事",
        password_hash=hash_password("x"),
        site_id=person(session, "zhaolei").site_id,
    )
    user.roles = [UserRole(role=role)]
    session.add(user)
    session.flush()
    return user


def complete(
    session: Session, process_id: str, step: HumanStep[Any], key: str, actor: User, form: Any
) -> None:
    """Open `step` for `actor` and complete it through the inbox, as a person would."""
    request = HumanRequest(
        process_id=process_id, key=key, site_id=actor.site_id, assignee_id=actor.id
    )
    task = inbox.open_task(session, step, request, str(uuid.uuid4()), NOW)
    inbox.complete(session, actor, task.id, form.model_dump(mode="json"), STEPS, NOW)


def processes(session: Session) -> int:
    return session.scalar(select(func.count(Process.id))) or 0


def test_a_name_made_of_invisible_characters_is_refused(
    session: Session, client_for: Callable[[User], TestClient]
) -> None:
    before = processes(session)
    complaint = {
        "resident_name": INVISIBLE,
        "unit": "3-1-502",
        "contact_phone": "13800138000",
        "channel": "phone",
        "category": "noise",
        "urgency": "urgent",
        "description": "楼上深夜装修噪音",
    }
    refused = client_for(person(session, "zhangmin")).post("/api/v1/complaints", json=complaint)
    assert refused.status_code == 422
    assert field_messages(refused) == {
        "resident_name": "住户姓名: 须包含可见字符（不能只有空白或零宽字符）"
    }
    hire = {
        "name": INVISIBLE,
        "post": "前台客服",
        "start_date": "2030-01-07",
        "trainer_id": person(session, "lihua").id,
    }
    refused = client_for(person(session, "sunli")).post("/api/v1/onboardings", json=hire)
    assert refused.status_code == 422
    assert list(field_messages(refused)) == ["name"]
    assert processes(session) == before


def test_a_reassignment_reason_has_a_length_limit(
    session: Session, client_for: Callable[[User], TestClient]
) -> None:
    lead = person(session, "lihua")
    body = {"to_user_id": person(session, "wangqiang").id, "reason": "改" * 100_000}
    refused = client_for(lead).post("/api/v1/tasks/1/reassign", json=body)
    assert refused.status_code == 422
    assert field_messages(refused) == {"reason": "原因: 最多 2000 个字"}


def test_a_plan_is_not_found_for_colleagues_it_does_not_involve(
    session: Session, client_for: Callable[[User], TestClient]
) -> None:
    january = TrainingPlanCreate(kind=PlanKind.MONTHLY, year=2030, month=1)
    plan = plans.start_plan(session, person(session, "zhaolei"), january, load_policy(), NOW)
    outsider = User(
        username=f"eng-{uuid.uuid4().hex[:6]}",
        display_name="工程师",
        password_hash=hash_password("x"),
        site_id=person(session, "zhaolei").site_id,
    )
    outsider.roles = [UserRole(role=Role.ENGINEERING)]
    session.add(outsider)
    session.flush()

    assert client_for(outsider).get(f"/api/v1/training-plans/{plan.id}").status_code == 404
    assert client_for(outsider).get(f"/api/v1/training-plans/{plan.id}/diff").status_code == 404
    drafter = client_for(person(session, "zhaolei")).get(f"/api/v1/training-plans/{plan.id}")
    assert drafter.status_code == 200 and drafter.json()["process_id"] == plan.id
    manager = client_for(person(session, "chenjing")).get(f"/api/v1/training-plans/{plan.id}")
    assert manager.status_code == 200


def test_the_case_page_reads_a_plan_by_the_plans_own_rule(
    session: Session, client_for: Callable[[User], TestClient]
) -> None:
    drafter, approver = person(session, "zhaolei"), person(session, "chenjing")
    trainer, attendee = new_colleague(session, Role.STAFF), new_colleague(session, Role.STAFF)
    january = TrainingPlanCreate(kind=PlanKind.MONTHLY, year=2030, month=1)
    plan = plans.start_plan(session, drafter, january, load_policy(), NOW)
    document = PlanDocument.model_validate(
        {
            "title": "2030年1月培训计划",
            "compliance_confirmed": True,
            "items": [
                {
                    "topic": "投诉处理",
                    "attendee_ids": [attendee.id],
                    "trainer_id": trainer.id,
                    "method": "lecture",
                    "hours": 1.5,
                    "venue": "二楼会议室",
                    "sessions": [{"starts_at": "2030-01-08T14:00:00+08:00"}],
                    "assessment_criteria": "笔试 60 分及格",
                }
            ],
            "budget": [{"category": "materials", "description": "讲义", "amount": "200.00"}],
        }
    )
    complete(session, plan.id, DRAFT, "draft-1", drafter, document)
    plans.record_version(session, plan.id, document, "draft-1", load_policy(), NOW)
    # Rejected: no session is scheduled yet, so the attendee is named only in the plan.
    rejection = PlanDecision(outcome="reject", reason="预算不足")
    complete(session, plan.id, APPROVE, "draft-approval-1-1", approver, rejection)
    assert plans.record_decision(session, plan.id, 1, rejection, "draft-approval-1-1", NOW)

    pages = (f"/api/v1/training-plans/{plan.id}", f"/api/v1/processes/{plan.id}")
    for outsider in (person(session, "liugong"), new_colleague(session, Role.STAFF)):
        assert [client_for(outsider).get(page).status_code for page in pages] == [404, 404]
    for reader in (attendee, trainer, drafter, approver, person(session, "sunli")):
        assert [client_for(reader).get(page).status_code for page in pages] == [200, 200]
