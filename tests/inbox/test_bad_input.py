"""Input the database cannot store is refused with a 422 naming the field, never a 500: integers
beyond 32 bits as ids or offsets, NUL characters, lone surrogates, a switch sent as null."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from db.models import Process
from db.session import transaction
from launch.demo import DEMO_PASSWORD

COMPLAINT = {
    "resident_name": "王先生",
    "unit": "3-1-502",
    "contact_phone": "13800138000",
    "channel": "phone",
    "category": "noise",
    "urgency": "general",
    "description": "楼上深夜装修噪音",
}


@pytest.fixture(scope="module")
def client(demo_org: None) -> Iterator[TestClient]:
    from inbox.api.app import create_app

    app: FastAPI = create_app()
    with TestClient(app, raise_server_exceptions=False) as client:
        login = client.post(
            "/api/v1/auth/token", data={"username": "lihua", "password": DEMO_PASSWORD}
        )
        client.headers.update(
            {"Authorization": f"Bearer {login.json()['access_token']}", "Accept-Language": "en"}
        )
        yield client


def refused_fields(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(f["field"], f["message"]) for f in response.json()["error"]["fields"]]


@pytest.mark.parametrize("task_id", [2**63, 2**31, 10**30])
def test_an_id_beyond_the_database_range_is_refused(client: TestClient, task_id: int) -> None:
    for method, path in (
        ("POST", f"/api/v1/tasks/{task_id}/claim"),
        ("POST", f"/api/v1/tasks/{task_id}/unclaim"),
        ("POST", f"/api/v1/tasks/{task_id}/resume-clock"),
    ):
        assert refused_fields(client.request(method, path)) == [
            ("task_id", "task_id: Must be at most 2147483647")
        ]


def test_an_offset_beyond_the_database_range_is_refused(client: TestClient) -> None:
    for path in ("/api/v1/tasks", "/api/v1/knowledge"):
        response = client.get(path, params={"offset": str(2**63)})
        assert refused_fields(response) == [("offset", "offset: Must be at most 2147483647")]


def test_a_nul_character_in_a_search_is_refused(client: TestClient) -> None:
    response = client.get("/api/v1/knowledge", params={"q": "噪音\x00"})
    assert refused_fields(response) == [("q", "q: Must not contain a NUL character")]


def test_a_lone_surrogate_in_a_search_is_refused(client: TestClient) -> None:
    # U+D800 as UTF-8 would encode it: decoding quietly turned it into U+FFFD before.
    response = client.get("/api/v1/knowledge?q=%ED%A0%80")
    assert refused_fields(response) == [("q", "q: Must be valid text")]


def test_a_phone_number_search_is_text_not_an_integer(client: TestClient) -> None:
    assert client.get("/api/v1/knowledge", params={"q": "13800138000"}).status_code == 200


def count_processes() -> int:
    with transaction() as session:
        return session.scalar(select(func.count()).select_from(Process)) or 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("description", "噪音\x00", "Must not contain a NUL character"),
        ("resident_name", "王\ud800", "Must be valid text"),
    ],
)
def test_a_complaint_with_unstorable_text_is_refused_and_nothing_is_recorded(
    client: TestClient, field: str, value: str, message: str
) -> None:
    before = count_processes()
    # Escaped by hand: the JSON encoder of the client would refuse a lone surrogate itself.
    body = (
        "{"
        + ", ".join(
            f'"{name}": "{value if name == field else text}"'.replace("\x00", "\\u0000").replace(
                "\ud800", "\\ud800"
            )
            for name, text in COMPLAINT.items()
        )
        + "}"
    )
    response = client.post(
        "/api/v1/complaints",
        content=body.encode("utf-8", "surrogatepass"),
        headers={"Content-Type": "application/json"},
    )
    assert refused_fields(response) == [(field, f"{field}: {message}")]
    assert count_processes() == before


def test_a_reassignment_to_an_id_beyond_the_range_is_refused(client: TestClient) -> None:
    response = client.post("/api/v1/tasks/1/reassign", json={"to_user_id": 2**63, "reason": "休假"})
    assert refused_fields(response) == [("to_user_id", "to_user_id: Must be at most 2147483647")]


def test_a_notification_switch_sent_as_null_is_refused(client: TestClient) -> None:
    response = client.patch("/api/v1/me/notifications", json={"wecom_enabled": None})
    assert refused_fields(response) == [("wecom_enabled", "wecom_enabled: Must be true or false")]
    chinese = client.patch(
        "/api/v1/me/notifications",
        json={"email_enabled": None},
        headers={"Accept-Language": "zh-CN"},
    )
    assert chinese.status_code == 422
    messages = [f["message"] for f in chinese.json()["error"]["fields"]]
    assert messages == ["email_enabled: 必须是“是”或“否”"]
    nul = client.patch("/api/v1/me/notifications", json={"wecom_userid": "zhang\x00min"})
    assert refused_fields(nul) == [
        ("wecom_userid", "wecom_userid: Must not contain a NUL character")
    ]
