"""Starting a process with an Idempotency-Key: a repeat (after a timeout, or in parallel) returns
the first start's process and records nothing more; the same key with another form is refused."""

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from db.models import Complaint, Process, Role, User
from db.session import transaction
from launch.demo import DEMO_PASSWORD
from tests.support.factories import new_staff, user_id

PARALLEL_REPEATS = 6


def complaint(description: str) -> dict[str, str]:
    return {
        "resident_name": "王先生",
        "unit": "3-1-502",
        "contact_phone": "13800138000",
        "channel": "phone",
        "category": "noise",
        "urgency": "general",
        "description": description,
    }


@pytest.fixture(scope="module")
def app(demo_org: None) -> FastAPI:
    from inbox.api.app import create_app

    return create_app()


@pytest.fixture(scope="module")
def token(app: FastAPI) -> str:
    login = TestClient(app).post(
        "/api/v1/auth/token", data={"username": "zhangmin", "password": DEMO_PASSWORD}
    )
    return str(login.json()["access_token"])


@pytest.fixture
def client(app: FastAPI, token: str) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def complaints_described(description: str) -> int:
    with transaction() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Complaint)
                .where(Complaint.description == description)
            )
            or 0
        )


def test_a_repeated_start_returns_the_first_process(client: TestClient) -> None:
    description, key = f"重复提交 {uuid.uuid4()}", str(uuid.uuid4())
    first = client.post(
        "/api/v1/complaints", json=complaint(description), headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201, first.text
    again = client.post(
        "/api/v1/complaints", json=complaint(description), headers={"Idempotency-Key": key}
    )
    assert again.status_code == 201
    assert again.json()["process_id"] == first.json()["process_id"]
    assert complaints_described(description) == 1
    # Without a key, each start is a new one.
    client.post("/api/v1/complaints", json=complaint(description))
    assert complaints_described(description) == 2


def test_parallel_repeats_record_one_process(client: TestClient) -> None:
    from db.base import utcnow
    from db.models import ProcessKind
    from forms.complaint import ComplaintCreate
    from inbox.intake import start_process

    description, key = f"并发重复 {uuid.uuid4()}", str(uuid.uuid4())
    intake = ComplaintCreate.model_validate(complaint(description))
    with transaction() as session:
        user_id = session.scalars(select(User.id).where(User.username == "zhangmin")).one()
    start = Barrier(PARALLEL_REPEATS)

    def repeat(_: int) -> str:
        start.wait()
        return start_process(ProcessKind.COMPLAINT, user_id, intake, utcnow(), key).id

    with ThreadPoolExecutor(PARALLEL_REPEATS) as pool:
        process_ids = set(pool.map(repeat, range(PARALLEL_REPEATS)))
    assert len(process_ids) == 1
    assert complaints_described(description) == 1
    with transaction() as session:
        assert session.get_one(Process, process_ids.pop()).subject


def test_the_same_key_with_another_form_is_refused(client: TestClient) -> None:
    key = str(uuid.uuid4())
    first = client.post(
        "/api/v1/complaints", json=complaint("甲"), headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201
    other = client.post(
        "/api/v1/complaints",
        json=complaint(f"乙 {key}"),
        headers={"Idempotency-Key": key, "Accept-Language": "en"},
    )
    assert other.status_code == 409
    assert other.json()["error"]["message"] == (
        "This Idempotency-Key was already used for a different request"
    )
    assert complaints_described(f"乙 {key}") == 0


def test_a_key_is_a_user_s_own(app: FastAPI, client: TestClient) -> None:
    key, description = str(uuid.uuid4()), f"各自的键 {uuid.uuid4()}"
    mine = client.post(
        "/api/v1/complaints", json=complaint(description), headers={"Idempotency-Key": key}
    )
    login = TestClient(app).post(
        "/api/v1/auth/token", data={"username": "wangqiang", "password": DEMO_PASSWORD}
    )
    theirs = TestClient(app).post(
        "/api/v1/complaints",
        json=complaint(description),
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {login.json()['access_token']}"},
    )
    assert theirs.status_code == 201
    assert theirs.json()["process_id"] != mine.json()["process_id"]


def test_an_overlong_key_is_refused_naming_the_header(client: TestClient) -> None:
    response = client.post(
        "/api/v1/complaints",
        json=complaint("太长的键"),
        headers={"Idempotency-Key": "k" * 101, "Accept-Language": "en"},
    )
    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert field["field"] == "header.Idempotency-Key"


# Each process start of the API: who starts it and a valid intake. A colleague of their own
# starts each, so the repeats are told apart from every other test's processes.
STARTS: dict[str, tuple[Role, Callable[[], dict[str, Any]]]] = {
    "onboardings": (
        Role.HR,
        lambda: {
            "name": "王小明", "post": "前台客服", "start_date": "2030-03-04",
            "trainer_id": user_id("zhangmin"),
        },
    ),
    "resignations": (Role.STAFF, lambda: {"last_working_day": "2030-03-29", "reason": "回老家"}),
    "training-plans": (Role.SUPERVISOR, lambda: {"kind": "annual", "year": 2077}),
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(STARTS))
def test_every_process_start_returns_the_first_process_for_a_repeated_key(
    app: FastAPI, path: str
) -> None:
    role, intake = STARTS[path]
    starter_id, starter = new_staff("新同事", role)
    with TestClient(app) as client:
        login = client.post(
            "/api/v1/auth/token", data={"username": starter, "password": DEMO_PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        key = str(uuid.uuid4())
        first = client.post(f"/api/v1/{path}", json=intake(), headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        again = client.post(f"/api/v1/{path}", json=intake(), headers={"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert again.json()["process_id"] == first.json()["process_id"]
    with transaction() as session:
        started = session.scalar(
            select(func.count()).select_from(Process).where(Process.started_by_id == starter_id)
        )
    assert started == 1
