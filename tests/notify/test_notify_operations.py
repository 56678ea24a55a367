"""Ops admins see failed, dead and unknown deliveries with their errors, and retry them (REST)."""

import pkgutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import (
    DeliveryState,
    Event,
    OutboxMessage,
    Process,
    ProcessKind,
    Role,
    User,
    UserRole,
)
from inbox.api import routes
from inbox.api.deps import get_clock, get_current_user, get_session
from inbox.api.errors import install_error_handlers
from inbox.api.routes import outbox as outbox_routes
from notify.delivery import DeliveryReport, deliver_due
from notify.outbox import enqueue

AddUser = Callable[..., User]
Make = Callable[..., Settings]

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)
PASSWORD = "Smtp-Pa55word"
CLOSED = {"process_subject": "漏水投诉", "unit": "3栋1201", "satisfaction": 5}


class Acting:
    """The user the test client acts as."""

    user: User | None = None


@pytest.fixture
def acting() -> Acting:
    return Acting()


@pytest.fixture
def client(session_factory: sessionmaker[Session], acting: Acting) -> Iterator[TestClient]:
    """Return a client of an app serving the outbox router, on the test database."""
    app = FastAPI()
    app.include_router(outbox_routes.router, prefix="/api/v1")
    install_error_handlers(app)

    def session() -> Iterator[Session]:
        with session_factory.begin() as s:
            yield s

    def current_user() -> User:
        assert acting.user is not None
        return acting.user

    app.dependency_overrides[get_session] = session
    app.dependency_overrides[get_current_user] = current_user
    app.dependency_overrides[get_clock] = lambda: lambda: T0 + timedelta(hours=1)
    with TestClient(app) as test_client:
        yield test_client


def add_person(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, name: str, role: Role
) -> User:
    with session_factory.begin() as session:
        user = add_user(session, site_id, name, email=f"{name}@example.cn")
        session.add(UserRole(user_id=user.id, role=role))
        session.flush()
        session.refresh(user)
        return user


@pytest.fixture
def failed_message(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    closed_port: int,
) -> int:
    """Queue one email for a process and fail it against a mail server that is down."""
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn")
        process = Process(
            kind=ProcessKind.COMPLAINT, site_id=site_id, subject="漏水", started_by_id=lina.id
        )
        session.add(process)
        session.flush()
        enqueue(
            session,
            event="complaint_closed",
            recipients=[lina],
            context=CLOSED,
            dedup_key="closed",
            process_id=process.id,
            now=T0,
            settings=make_settings(),
        )
    settings = make_settings(smtp_url=f"mailto://kefu:{PASSWORD}@127.0.0.1:{closed_port}")
    assert deliver_due(T0, session_factory=session_factory, settings=settings) == (
        DeliveryReport(failed=1)
    )
    with session_factory() as session:
        return session.scalars(select(OutboxMessage.id)).one()


def test_router_is_picked_up_by_the_app() -> None:
    # The app includes the `router` of every module in inbox/api/routes.
    assert "outbox" in {module.name for module in pkgutil.iter_modules(routes.__path__)}
    paths = {route.path for route in outbox_routes.router.routes}  # type: ignore[attr-defined]
    assert paths == {"/outbox/problems", "/outbox/summary", "/outbox/{message_id}/retry"}


def test_ops_admin_sees_the_failure_with_its_error_and_no_secret(
    client: TestClient,
    acting: Acting,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    failed_message: int,
) -> None:
    acting.user = add_person(session_factory, site_id, add_user, "ops", Role.OPS_ADMIN)

    response = client.get("/api/v1/outbox/problems")

    assert response.status_code == 200
    [view] = response.json()
    assert view["id"] == failed_message
    assert view["state"] == "failed" and view["attempts"] == 1
    assert view["last_error"] and "127.0.0.1" in view["last_error"]
    assert PASSWORD not in response.text
    assert "body" not in view
    summary = client.get("/api/v1/outbox/summary").json()
    assert summary["failed"] == 1 and summary["sent"] == 0


@pytest.mark.parametrize("role", [Role.STAFF, Role.SHIFT_LEAD, Role.SITE_MANAGER, Role.HR])
def test_everyone_else_is_refused(
    client: TestClient,
    acting: Acting,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    failed_message: int,
    role: Role,
) -> None:
    acting.user = add_person(session_factory, site_id, add_user, "someone", role)

    for response in (
        client.get("/api/v1/outbox/problems"),
        client.get("/api/v1/outbox/summary"),
        client.post(f"/api/v1/outbox/{failed_message}/retry"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["message"] == "只有运维管理员可以查看和重发通知"


def test_retry_queues_it_again_with_fresh_attempts_and_is_audited(
    client: TestClient,
    acting: Acting,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    failed_message: int,
    smtp_server: tuple[Any, int],
) -> None:
    ops = add_person(session_factory, site_id, add_user, "ops", Role.OPS_ADMIN)
    acting.user = ops
    retried_at = T0 + timedelta(hours=1)

    response = client.post(f"/api/v1/outbox/{failed_message}/retry")

    assert response.status_code == 200
    view = response.json()
    assert (view["state"], view["attempts"]) == ("pending", 0)
    assert view["retry_requested_by_id"] == ops.id
    with session_factory() as session:
        [event] = session.scalars(select(Event).where(Event.kind == "notification_retried"))
        assert event.actor_id == ops.id and event.data["before"]["state"] == "failed"

    # A second retry of a message that is no longer failed is a conflict, not a second send.
    again = client.post(f"/api/v1/outbox/{failed_message}/retry")
    assert again.status_code == 409

    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}")
    assert deliver_due(retried_at, session_factory=session_factory, settings=settings) == (
        DeliveryReport(sent=1)
    )
    assert len(sink.wait_for(1)) == 1


def test_dead_and_unknown_are_listed_and_filtered(
    client: TestClient,
    acting: Acting,
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    failed_message: int,
) -> None:
    acting.user = add_person(session_factory, site_id, add_user, "ops", Role.OPS_ADMIN)
    with session_factory.begin() as session:
        row = session.get_one(OutboxMessage, failed_message)
        row.state = DeliveryState.UNKNOWN

    unknown = client.get("/api/v1/outbox/problems", params={"state": "unknown"}).json()
    dead = client.get("/api/v1/outbox/problems", params={"state": "dead"}).json()

    assert [view["id"] for view in unknown] == [failed_message]
    assert dead == []


def test_retrying_a_missing_message_is_not_found(
    client: TestClient, acting: Acting, session_factory: sessionmaker[Session], site_id: int,
    add_user: AddUser,
) -> None:  # fmt: skip
    acting.user = add_person(session_factory, site_id, add_user, "ops", Role.OPS_ADMIN)

    response = client.post("/api/v1/outbox/999/retry")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "没有编号为 999 的通知"
