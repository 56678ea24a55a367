"""The ops admin's day in a real Chromium, at desktop width and on the phone: a new colleague's
account, a notification that could not be delivered sent again, and a dashboard figure followed
down to its cases and out as CSV. Everything through the pages."""

import csv
import io
import uuid

import pytest
from playwright.sync_api import expect

from db.base import utcnow
from db.models import Complaint, DeliveryState, OutboxMessage
from db.session import transaction
from launch.embedded import eventually
from tests.support.factories import complaint_task, dead_email
from tests.web.conftest import DESKTOP, PHONE, Person
from tests.web.pages import assert_accessible, assert_fits, keep, submit

pytestmark = pytest.mark.e2e


def test_ops_admin_adds_a_colleague_retries_a_dead_email_and_follows_a_figure(
    people: dict[str, Person],
) -> None:
    admin = people["admin"]
    page = admin.page
    page.set_viewport_size(DESKTOP)

    # A new colleague's account; the list shows her with her role.
    username = f"ops{uuid.uuid4().hex[:6]}"
    page.get_by_role("link", name="系统管理").click()
    page.locator("nav.tabs").get_by_role("link", name="用户").click()
    form = page.get_by_test_id("create-user-form")
    form.locator("#f-username").fill(username)
    form.locator("#f-display_name").fill("孙悦")
    form.locator("#f-email").fill(f"{username}@example.cn")
    form.locator("#f-site_id").select_option(index=1)
    form.get_by_role("checkbox", name="客服专员").check()
    form.locator("#f-password").fill("一个足够长的初始密码2026")
    submit(admin)
    expect(page.get_by_test_id("admin-notice")).to_contain_text("账号已创建")
    expect(page.locator("h1")).to_contain_text(f"孙悦 {username}")
    page.locator("p.crumbs").get_by_role("link", name="用户").click()
    row = page.locator(f"[data-testid=user-row][data-username={username}]")
    expect(row).to_contain_text("孙悦")
    expect(row).to_contain_text("客服专员")
    assert_fits(page, "the users page")
    assert_accessible(page, "the users page")
    keep(admin, "ops-users")

    # A dead notification, with the mail server's reason; sent again, it waits to go.
    unit = f"5-{uuid.uuid4().hex[:6]}"
    message_id = dead_email(
        f"【待办】回复住户：{unit}", "SMTPRecipientsRefused: 550 mailbox unavailable"
    )
    page.locator("nav.tabs").get_by_role("link", name="通知投递").click()
    page.get_by_test_id("count-dead").click()
    expect(page.locator("body")).to_contain_text("SMTPRecipientsRefused")
    page.get_by_test_id(f"retry-{message_id}").click()
    # Queued again: gone from the dead ones, waiting to be sent with fresh attempts.
    expect(page.get_by_test_id(f"retry-{message_id}")).to_have_count(0)

    def queued_again() -> bool:
        with transaction() as session:
            retried = session.get_one(OutboxMessage, message_id)
            return (retried.state, retried.attempts) == (DeliveryState.PENDING, 0)

    eventually(queued_again, "the dead email queued again")
    expect(page.locator("body")).to_contain_text("待发送")
    assert_fits(page, "the outbox page")
    keep(admin, "ops-outbox")

    # The dashboard: a complaint received today is behind "complaints received"; the figures
    # leave as CSV.
    with transaction() as session:
        process_id = complaint_task(session, utcnow(), category="parking").process_id
        received_unit = session.get_one(Complaint, process_id).unit
    page.get_by_role("link", name="运营看板").click()
    expect(page.get_by_test_id("kpis")).to_be_visible()
    assert_fits(page, "the dashboard")
    keep(admin, "ops-dashboard")
    page.get_by_test_id("kpis").get_by_role("link").first.click()
    expect(page.get_by_test_id("drill-processes")).to_contain_text(received_unit)
    page.get_by_test_id("drill-processes").get_by_role("link", name=received_unit).first.click()
    expect(page.get_by_test_id("process-subject")).to_contain_text(received_unit)
    page.go_back()
    page.go_back()
    with page.expect_download() as download:
        page.locator("ul.files a").first.click()
    table = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert len(table) >= 2 and all(table[0])

    # The same pages on the phone: nothing wider than the screen.
    page.set_viewport_size(PHONE)
    for path in ("/admin/users", "/admin/outbox", "/dashboard"):
        page.goto(f"{admin.base_url}{path}")
        assert_fits(page, f"{path} at phone width")
