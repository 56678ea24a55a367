"""A person reads and changes their own notification settings (REST), and enqueue honours them."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import NotificationPreference, OutboxMessage, User
from inbox.api.deps import get_clock, get_current_user, get_session
from inbox.api.errors import install_error_handlers
from inbox.api.routes import notify_preferences
from notify.outbox import enqueue

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)


@pytest.fixture
def lina(
    session_factory: sessionmaker[Session], site_id: int, add_user: Callable[..., User]
) -> User:
    with session_factory.begin() as session:
        return add_user(session, site_id, "lina", email="lina@example.cn")


@pytest.fixture
def client(session_factory: sessionmaker[Session], lina: User) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(notify_preferences.router, prefix="/api/v1")
    install_error_handlers(app)

    def session() -> Iterator[Session]:
        with session_factory.begin() as s:
            yield s

    app.dependency_overrides[get_session] = session
    app.dependency_overrides[get_current_user] = lambda: lina
    app.dependency_overrides[get_clock] = lambda: lambda: T0
    with TestClient(app) as test_client:
        yield test_client


def test_defaults_until_changed_then_stored(
    client: TestClient,
    lina: User,
    session_factory: sessionmaker[Session],
    make_settings: Callable[..., Settings],
) -> None:
    assert client.get("/api/v1/me/notifications").json()["wecom_userid"] is None

    response = client.patch(
        "/api/v1/me/notifications",
        json={"wecom_userid": "LiNa", "email_enabled": False, "quiet_start": "22:00",
              "quiet_end": "07:30"},
    )  # fmt: skip

    assert response.status_code == 200
    assert response.json()["wecom_userid"] == "LiNa" and response.json()["email_enabled"] is False
    with session_factory.begin() as session:
        stored = session.get_one(NotificationPreference, lina.id)
        assert (stored.quiet_start, stored.quiet_end) == ("22:00", "07:30")
        enqueue(
            session,
            event="task_assigned",
            recipients=[session.get_one(User, lina.id)],
            context={"step_title": "经理审批", "process_subject": "漏水", "due_at": None},
            dedup_key="k",
            now=T0,
            settings=make_settings(),
        )
    with session_factory() as session:
        channels = list(session.scalars(select(OutboxMessage.channel)))
    assert channels == ["wecom"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"),
        ({"quiet_start": "22:00"}, "quiet_end"),
    ],
)
def test_bad_quiet_hours_are_refused_with_the_field(
    client: TestClient, body: dict[str, str], field: str
) -> None:
    response = client.patch("/api/v1/me/notifications", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"].endswith(field)
