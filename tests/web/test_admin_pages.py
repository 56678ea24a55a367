"""The admin pages as a browser uses them: the demo ops admin adds and changes people, resets a
password, unlocks an account, adds a site and a WeCom userid — each write audited; refused input
comes back with the field's Chinese message and nothing written; everyone else gets 403.

Runs the real application on the session's database (no Prefect): logins go through /login with
the CSRF token scraped from the page, as a browser would.
"""

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from db.models import AdminChange, ApiToken, NotificationPreference, Site, User
from db.session import transaction
from domain.people import LOCKOUT
from inbox.api.app import create_app
from launch.demo import DEMO_PASSWORD
from tests.support.factories import user_id as id_of

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
ADMIN = "admin"
STAFF = "zhangmin"
NEW_PASSWORD = "a-new-password-2026"


@pytest.fixture(scope="module")
def app(demo_org: None) -> FastAPI:
    return create_app()


class Browser:
    """One person's browser: its cookies, and the CSRF token of the last page it loaded."""

    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app, headers=CHINESE, follow_redirects=False)
        self.csrf = ""

    def get(self, path: str) -> httpx.Response:
        response = self.client.get(path)
        if found := CSRF_INPUT.search(response.text):
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any], *, with_csrf: bool = True) -> httpx.Response:
        body = {**data, "csrf_token": self.csrf} if with_csrf else data
        response = self.client.post(path, data=body)
        if found := CSRF_INPUT.search(response.text):
            self.csrf = found.group(1)
        return response

    def submit(self, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
        """Load `page`, then post its form to `action` with the page's CSRF token."""
        assert self.get(page).status_code == 200
        return self.post(action, data)

    def log_in(self, username: str, password: str = DEMO_PASSWORD) -> httpx.Response:
        self.get("/login")
        return self.post("/login", {"username": username, "password": password, "next": "/inbox"})


def logged_in(app: FastAPI, username: str, password: str = DEMO_PASSWORD) -> Browser:
    browser = Browser(app)
    response = browser.log_in(username, password)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/inbox"
    return browser


@pytest.fixture
def admin(app: FastAPI) -> Browser:
    return logged_in(app, ADMIN)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def demo_site_id() -> int:
    with transaction() as session:
        return session.scalars(select(User.site_id).where(User.username == ADMIN)).one()


def last_change_id() -> int:
    with transaction() as session:
        return session.scalar(select(func.max(AdminChange.id))) or 0


def changes_since(change_id: int) -> list[AdminChange]:
    with transaction() as session:
        return list(
            session.scalars(
                select(AdminChange).where(AdminChange.id > change_id).order_by(AdminChange.id)
            )
        )


def error_of(page: httpx.Response, field: str) -> str:
    """Return the error text shown beside `field`."""
    found = re.search(rf'data-testid="error-{field}">([^<]*)<', page.text)
    assert found, f"no error shown for {field}"
    return found.group(1)


def add_user(admin: Browser, roles: tuple[str, ...] = ("staff",)) -> tuple[int, str, str]:
    """Create an account through the form; return its id, username and password."""
    username, password = unique("u").lower(), f"pw-{uuid.uuid4().hex}"
    response = admin.submit(
        "/admin/users",
        "/admin/users",
        {
            "username": username,
            "display_name": "新同事",
            "email": f"{username}@demo.kefu.local",
            "site_id": str(demo_site_id()),
            "roles": list(roles),
            "password": password,
        },
    )
    assert response.status_code == 303, response.text
    user_id = int(response.headers["location"].rsplit("/", 1)[1])
    return user_id, username, password


def account_form(user_id: int, **changes: Any) -> dict[str, Any]:
    """Return the account form of `user_id` as stored, with `changes` typed over it."""
    with transaction() as session:
        user = session.get_one(User, user_id)
        form: dict[str, Any] = {
            "display_name": user.display_name,
            "email": user.email or "",
            "site_id": str(user.site_id),
            "roles": [str(r.role) for r in user.roles],
            "active": "on" if user.active else None,
        }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def test_created_user_logs_in_and_sees_the_inbox(app: FastAPI, admin: Browser) -> None:
    overview = admin.get("/admin")
    assert overview.status_code == 200 and "系统管理" in overview.text
    before = last_change_id()

    user_id, username, password = add_user(admin, roles=("staff", "hr"))

    page = admin.get(f"/admin/users/{user_id}")
    assert "账号已创建" in page.text and username in page.text
    (change,) = changes_since(before)
    assert (change.entity, change.entity_id, change.action) == ("user", user_id, "user_created")
    assert change.data["after"]["roles"] == ["staff", "hr"]
    assert change.actor_id == id_of(ADMIN)
    stored = json.dumps(change.data)
    assert password not in stored and "hash" not in stored and "password" not in stored

    newcomer = logged_in(app, username, password)
    inbox = newcomer.get("/inbox")
    assert inbox.status_code == 200 and "我的任务" in inbox.text
    assert newcomer.get("/admin").status_code == 403


def test_roles_change_then_deactivation_sends_the_person_to_login(
    app: FastAPI, admin: Browser
) -> None:
    user_id, username, password = add_user(admin)
    colleague = logged_in(app, username, password)
    assert "团队任务" not in colleague.get("/inbox").text
    before = last_change_id()

    response = admin.submit(
        f"/admin/users/{user_id}",
        f"/admin/users/{user_id}",
        account_form(user_id, roles=["staff", "shift_lead"]),
    )

    assert response.status_code == 303
    (change,) = changes_since(before)
    assert change.action == "roles_changed"
    assert change.data["before"] == {"roles": ["staff"]}
    assert change.data["after"] == {"roles": ["staff", "shift_lead"]}
    # The new role counts from the person's next page: a shift lead sees the team's tasks.
    assert "团队任务" in colleague.get("/inbox").text

    response = admin.submit(
        f"/admin/users/{user_id}", f"/admin/users/{user_id}", account_form(user_id, active=None)
    )

    assert response.status_code == 303
    (_, change) = changes_since(before)
    assert change.action == "deactivated"
    assert change.data["after"] == {"active": False}
    refused = colleague.get("/inbox")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    with transaction() as session:
        tokens = session.scalars(select(ApiToken.revoked).where(ApiToken.user_id == user_id))
        assert set(tokens) == {True}
    assert Browser(app).log_in(username, password).status_code == 401


def test_password_reset_replaces_the_old_password(app: FastAPI, admin: Browser) -> None:
    user_id, username, old_password = add_user(admin)
    before = last_change_id()

    response = admin.submit(
        f"/admin/users/{user_id}",
        f"/admin/users/{user_id}/password",
        {"new_password": NEW_PASSWORD},
    )

    assert response.status_code == 303
    (change,) = changes_since(before)
    assert (change.entity_id, change.action) == (user_id, "password_reset")
    assert NEW_PASSWORD not in json.dumps(change.data)
    assert Browser(app).log_in(username, old_password).status_code == 401
    logged_in(app, username, NEW_PASSWORD)


def test_unlock_lets_a_locked_out_person_log_in_again(app: FastAPI, admin: Browser) -> None:
    user_id, username, password = add_user(admin)
    stranger = Browser(app)
    for _ in range(LOCKOUT.max_failures):
        assert stranger.log_in(username, "not-the-password").status_code == 401
    assert Browser(app).log_in(username, password).status_code == 429
    page = admin.get(f"/admin/users/{user_id}")
    assert "锁定至" in page.text
    before = last_change_id()

    response = admin.post(f"/admin/users/{user_id}/unlock", {})

    assert response.status_code == 303
    (change,) = changes_since(before)
    assert (change.entity_id, change.action) == (user_id, "unlocked")
    assert change.data["before"]["locked_until"] is not None
    with transaction() as session:
        user = session.get_one(User, user_id)
        assert (user.failed_logins, user.locked_until) == (0, None)
    logged_in(app, username, password)


def test_create_a_site(admin: Browser) -> None:
    code = unique("site")
    before = last_change_id()

    response = admin.submit(
        "/admin/sites",
        "/admin/sites",
        {"code": code, "name": "滨江壹号管理处", "timezone": "Asia/Urumqi"},
    )

    assert response.status_code == 303
    with transaction() as session:
        site = session.scalars(select(Site).where(Site.code == code)).one()
        assert (site.name, site.timezone) == ("滨江壹号管理处", "Asia/Urumqi")
    (change,) = changes_since(before)
    assert (change.entity, change.entity_id, change.action) == ("site", site.id, "site_created")
    listing = admin.get("/admin/sites")
    assert f'data-code="{code}"' in listing.text and "管理处已创建" in listing.text


def test_set_a_wecom_userid(admin: Browser) -> None:
    user_id, _, _ = add_user(admin)
    wecom_userid = f"ZhangSan.{uuid.uuid4().hex[:8]}"
    before = last_change_id()

    response = admin.submit(
        f"/admin/users/{user_id}",
        f"/admin/users/{user_id}/channels",
        {"wecom_userid": wecom_userid, "wecom_enabled": "on"},
    )

    assert response.status_code == 303
    with transaction() as session:
        preference = session.get_one(NotificationPreference, user_id)
        assert preference.wecom_userid == wecom_userid
        assert (preference.wecom_enabled, preference.email_enabled) == (True, False)
    (change,) = changes_since(before)
    assert (change.entity, change.entity_id, change.action) == (
        "preference",
        user_id,
        "channels_changed",
    )
    assert change.data["after"] == {"wecom_userid": wecom_userid, "email_enabled": False}
    assert wecom_userid in admin.get(f"/admin/users/{user_id}").text


def test_a_wecom_userid_of_someone_else_is_refused(admin: Browser) -> None:
    first_id, _, _ = add_user(admin)
    second_id, _, _ = add_user(admin)
    wecom_userid = f"Shared{uuid.uuid4().hex[:8]}"
    channels = {"wecom_userid": wecom_userid, "wecom_enabled": "on", "email_enabled": "on"}
    first = admin.submit(f"/admin/users/{first_id}", f"/admin/users/{first_id}/channels", channels)
    assert first.status_code == 303
    before = last_change_id()

    page = admin.submit(f"/admin/users/{second_id}", f"/admin/users/{second_id}/channels", channels)

    assert page.status_code == 422
    assert error_of(page, "wecom_userid") == "该企业微信账号已属于 新同事"
    assert f'value="{wecom_userid}"' in page.text
    assert changes_since(before) == []
    with transaction() as session:
        assert session.get(NotificationPreference, second_id) is None


def test_taken_username_is_refused_and_what_was_typed_stays(admin: Browser) -> None:
    before = last_change_id()

    page = admin.submit(
        "/admin/users",
        "/admin/users",
        {"username": STAFF, "display_name": "重名的人", "site_id": str(demo_site_id()),
         "roles": ["staff"], "password": NEW_PASSWORD},
    )  # fmt: skip

    assert page.status_code == 422
    assert error_of(page, "username") == "该用户名已被占用"
    assert 'value="重名的人"' in page.text and NEW_PASSWORD not in page.text
    assert changes_since(before) == []
    with transaction() as session:
        assert session.scalar(select(func.count()).where(User.display_name == "重名的人")) == 0


def test_short_password_is_refused_and_nothing_is_written(admin: Browser) -> None:
    username = unique("short").lower()
    before = last_change_id()

    page = admin.submit(
        "/admin/users",
        "/admin/users",
        {"username": username, "display_name": "短密码", "site_id": str(demo_site_id()),
         "roles": ["staff"], "password": "short"},
    )  # fmt: skip

    assert page.status_code == 422
    assert error_of(page, "password") == "密码至少需要 10 个字符"
    assert f'value="{username}"' in page.text
    assert changes_since(before) == []
    with transaction() as session:
        assert session.scalar(select(User.id).where(User.username == username)) is None


def test_short_new_password_is_refused(admin: Browser) -> None:
    user_id, _, _ = add_user(admin)
    before = last_change_id()

    page = admin.submit(
        f"/admin/users/{user_id}", f"/admin/users/{user_id}/password", {"new_password": "short"}
    )

    assert page.status_code == 422
    assert error_of(page, "new_password") == "密码至少需要 10 个字符"
    assert changes_since(before) == []


def test_bad_timezone_is_refused_and_nothing_is_written(admin: Browser) -> None:
    code = unique("mars")
    before = last_change_id()

    page = admin.submit(
        "/admin/sites",
        "/admin/sites",
        {"code": code, "name": "火星管理处", "timezone": "Mars/Olympus"},
    )

    assert page.status_code == 422
    assert error_of(page, "timezone") == "不是有效的时区，例如 Asia/Shanghai"
    assert f'value="{code}"' in page.text and 'value="Mars/Olympus"' in page.text
    assert changes_since(before) == []
    with transaction() as session:
        assert session.scalar(select(Site.id).where(Site.code == code)) is None


def test_an_admin_cannot_lock_themselves_out(admin: Browser) -> None:
    admin_id = id_of(ADMIN)
    before = last_change_id()

    deactivate = admin.submit(
        f"/admin/users/{admin_id}", f"/admin/users/{admin_id}", account_form(admin_id, active=None)
    )
    demote = admin.submit(
        f"/admin/users/{admin_id}",
        f"/admin/users/{admin_id}",
        account_form(admin_id, roles=["staff"]),
    )

    assert deactivate.status_code == demote.status_code == 422
    assert error_of(deactivate, "active") == "不能停用自己的账号"
    assert error_of(demote, "roles") == "不能取消自己的运营管理员角色"
    assert changes_since(before) == []


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_a_post_without_the_form_token_is_refused(admin: Browser, token: str | None) -> None:
    username = unique("csrf").lower()
    admin.get("/admin/users")
    before = last_change_id()
    form = {"username": username, "display_name": "无令牌", "site_id": str(demo_site_id()),
            "roles": ["staff"], "password": NEW_PASSWORD}  # fmt: skip
    if token is not None:
        form["csrf_token"] = token

    response = admin.post("/admin/users", form, with_csrf=False)

    assert response.status_code == 403
    assert changes_since(before) == []
    with transaction() as session:
        assert session.scalar(select(User.id).where(User.username == username)) is None


def test_anonymous_visitors_are_sent_to_login(app: FastAPI) -> None:
    response = Browser(app).get("/admin/users")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin/users"


def test_staff_get_403_on_every_admin_page_and_form(app: FastAPI) -> None:
    staff = logged_in(app, STAFF)
    own_id = id_of(STAFF)
    pages = ["/admin", "/admin/users", f"/admin/users/{own_id}", "/admin/sites", "/admin/rules"]
    for page in pages:
        response = staff.get(page)
        assert response.status_code == 403, page
        assert 'data-testid="error-page"' in response.text
    username, code = unique("staffmade").lower(), unique("staffsite")
    forms = {
        "/admin/users": {"username": username, "display_name": "越权", "site_id": "1",
                         "roles": ["ops_admin"], "password": NEW_PASSWORD},
        f"/admin/users/{own_id}": account_form(own_id, roles=["ops_admin"]),
        f"/admin/users/{own_id}/password": {"new_password": NEW_PASSWORD},
        f"/admin/users/{own_id}/unlock": {},
        f"/admin/users/{own_id}/channels": {"wecom_userid": "Intruder", "wecom_enabled": "on"},
        "/admin/sites": {"code": code, "name": "越权", "timezone": "Asia/Shanghai"},
    }  # fmt: skip
    before = last_change_id()
    for action, form in forms.items():
        assert staff.get("/inbox").status_code == 200  # a page with the form token
        assert staff.post(action, form).status_code == 403, action
    assert changes_since(before) == []
    with transaction() as session:
        user = session.get_one(User, own_id)
        assert [r.role for r in user.roles] == ["staff"]
        assert session.scalar(select(User.id).where(User.username == username)) is None
        assert session.scalar(select(Site.id).where(Site.code == code)) is None
        assert session.get(NotificationPreference, own_id) is None or (
            session.get_one(NotificationPreference, own_id).wecom_userid != "Intruder"
        )
    logged_in(app, STAFF)  # the demo password still works


def test_rules_page_shows_calendars_and_ladders_with_their_sources(admin: Browser) -> None:
    page = admin.get("/admin/rules")

    assert page.status_code == 200
    text = page.text
    assert "rules/calendars.yaml" in text and "rules/sla_ladders.yaml" in text
    assert 'data-name="front_desk_24h"' in text and 'data-name="day_shift"' in text
    assert "08:30–12:00, 13:30–17:30" in text
    assert 'data-key="complaint/*/urgent"' in text
    assert "重启" in text  # how an admin changes them: edit the YAML and restart
    admin.client.cookies.set("kefu_lang", "en")
    english = admin.get("/admin/rules").text
    assert "Respond within" in english and "2 working hours" in english
    assert "edit its YAML file" in english and "restart the service" in english
