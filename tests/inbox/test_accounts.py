"""Logging in under attack: the lockout holds when wrong passwords arrive in parallel, and
production refuses the published demo password and other published passwords."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from config import get_settings
from db.base import utcnow
from db.models import User
from db.session import transaction
from domain import people
from domain.errors import Invalid
from domain.people import LOCKOUT, LoginAttempt
from inbox.sign_in import sign_in
from launch.demo import DEMO_PASSWORD
from tests.support.factories import new_staff

# More than two rounds of the lockout, and fewer than the connection pool holds: an argon2
# check is slow, and attempts waiting for a connection would not run in parallel.
PARALLEL_ATTEMPTS = 2 * LOCKOUT.max_failures + 2
# How long a step of a test waits for another thread's before it fails.
WAIT_SECONDS = 20


@pytest.fixture(scope="module")
def app(demo_org: None) -> FastAPI:
    from inbox.api.app import create_app

    return create_app()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test's logins as a production deployment would."""
    monkeypatch.setenv("KEFU_ENVIRONMENT", "production")
    monkeypatch.setenv("KEFU_SECRET_KEY", "a-production-secret-key-for-the-test")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _attempt(username: str, password: str, now: datetime) -> LoginAttempt:
    attempt, _ = sign_in(username, password, now, timedelta(hours=1))
    return attempt


def test_checking_a_password_holds_no_other_writer_back(
    demo_org: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, username = new_staff("慢速校验")
    checking, written = threading.Event(), threading.Event()
    writer_got_through: list[bool] = []
    verify = people.password_hasher.verify

    def slow_verify(password: str, hashed: str) -> bool:
        # The hash check of a busy machine: it lasts until another writer got through.
        checking.set()
        writer_got_through.append(written.wait(WAIT_SECONDS))
        return verify(password, hashed)

    monkeypatch.setattr(people.password_hasher, "verify", slow_verify)
    with ThreadPoolExecutor(1) as login:
        attempt = login.submit(_attempt, username, DEMO_PASSWORD, utcnow())
        assert checking.wait(WAIT_SECONDS)
        # With the check inside the login's write transaction, this waited for the lock.
        with transaction() as session:
            session.execute(
                update(User).where(User.username == username).values(display_name="慢速校验·改")
            )
        written.set()
        assert attempt.result(WAIT_SECONDS).user is not None
    assert writer_got_through == [True]


def test_parallel_wrong_passwords_lock_the_account(demo_org: None) -> None:
    _, username = new_staff("并发测试")
    now = utcnow()
    start = threading.Barrier(PARALLEL_ATTEMPTS)

    def wrong_password(_: int) -> LoginAttempt:
        # All threads read the account before any of them counts its failure.
        start.wait()
        return _attempt(username, "a-wrong-password", now)

    with ThreadPoolExecutor(PARALLEL_ATTEMPTS) as pool:
        refusals = [
            attempt.refusal for attempt in pool.map(wrong_password, range(PARALLEL_ATTEMPTS))
        ]
    assert all(refusal is not None for refusal in refusals)

    with transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        assert user.locked_until == now + LOCKOUT.duration
        # Attempts that read the account after it locked are refused without counting.
        assert user.failed_logins < LOCKOUT.max_failures
    right = _attempt(username, DEMO_PASSWORD, now)
    assert right.user is None and right.refusal is not None
    assert right.refusal.code == "account_locked"


def test_production_refuses_the_demo_password(app: FastAPI, production: None) -> None:
    client = TestClient(app)
    response = client.post(
        "/api/v1/auth/token",
        data={"username": "admin", "password": DEMO_PASSWORD},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "This password is published: ask an admin to set a new one"
    )
    assert "access_token" not in response.json()
    chinese = client.post(
        "/api/v1/auth/token", data={"username": "admin", "password": DEMO_PASSWORD}
    )
    assert chinese.status_code == 403
    assert "公开" in chinese.json()["error"]["message"]


def test_outside_production_the_demo_password_logs_in(app: FastAPI) -> None:
    client = TestClient(app)
    response = client.post(
        "/api/v1/auth/token", data={"username": "zhaolei", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200


def test_a_published_password_cannot_be_set(demo_org: None) -> None:
    from domain.admin import reset_password

    with transaction() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        target = session.scalars(select(User).where(User.username == "zhoupin")).one()
        before = target.password_hash
        for published in (DEMO_PASSWORD, "Password123", "1qaz2wsx3edc"):
            with pytest.raises(Invalid) as refused:
                reset_password(session, admin, target.id, published, utcnow())
            [problem] = refused.value.problems
            assert problem.loc == ("new_password",)
            assert problem.message == "This password is on a published list: choose another"
        assert target.password_hash == before


def test_the_lockout_is_stored_in_utc_whatever_the_clock_s_zone(demo_org: None) -> None:
    from zoneinfo import ZoneInfo

    _, username = new_staff("时区测试")
    now = utcnow().astimezone(ZoneInfo("Asia/Shanghai"))
    for _ in range(LOCKOUT.max_failures):
        _attempt(username, "a-wrong-password", now)
    with transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        assert user.locked_until == now + LOCKOUT.duration
    assert _attempt(username, DEMO_PASSWORD, now).refusal.code == "account_locked"  # type: ignore[union-attr]


def test_production_refuses_the_demo_password_in_the_browser(
    app: FastAPI, production: None
) -> None:
    from tests.support.web import csrf_of

    browser = TestClient(app)
    form = {
        "username": "zhoupin",
        "password": DEMO_PASSWORD,
        "csrf_token": csrf_of(browser, "/login"),
    }
    response = browser.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert "该密码已公开" in response.text
