"""REST API routers served in-process over a test's rolled-back session, as chosen users."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db.models import User
from inbox.api.deps import get_clock, get_current_user, get_session
from inbox.api.errors import install_error_handlers


@contextmanager
def api_clients(
    session: Session, routers: list[APIRouter], now: datetime
) -> Iterator[Callable[[User], TestClient]]:
    """Yield a factory of clients acting as a given user, in Chinese, with the clock at `now`."""
    app = FastAPI()
    for router in routers:
        app.include_router(router, prefix="/api/v1")
    install_error_handlers(app)
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_clock] = lambda: lambda: now
    clients: list[TestClient] = []

    def client(user: User) -> TestClient:
        app.dependency_overrides[get_current_user] = lambda: user
        test_client = TestClient(app, headers={"Accept-Language": "zh-CN"})
        clients.append(test_client)
        return test_client

    yield client
    for test_client in clients:
        test_client.close()
