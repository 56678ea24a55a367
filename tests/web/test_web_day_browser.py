"""The web inbox's working day in a real Chromium at phone width (390 px): the shift lead's
filters and search, a reopened complaint that says why, the live inbox and countdown, and no
page wider than the screen at 390 px or 1280 px.

Runs against the session's real Prefect server and runner; the browser is the only client.
"""

import re
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, Response, expect

from db.base import utcnow
from db.models import Site
from db.session import transaction
from tests.support.factories import complaint_task
from tests.web.conftest import DESKTOP, PHONE, Person
from tests.web.pages import assert_accessible, assert_fits, keep, open_task, submit

pytestmark = pytest.mark.e2e


def test_shift_lead_filters_and_searches_the_team_by_resident_name(
    people: dict[str, Person],
) -> None:
    """Every filter of the team view, set to a value, narrows the list to the tasks it names and
    keeps it over a reload: the search by the resident's name, the process, the urgency and the
    due date for the shift lead, the site for the ops admin (the only one offered it)."""
    resident = f"住户{uuid.uuid4().hex[:6]}"
    with transaction() as session:
        subject = complaint_task(session, utcnow(), resident_name=resident).process.subject
        # Received two days ago: past its deadline, so the one the "overdue" filter keeps.
        late = complaint_task(session, utcnow() - timedelta(days=2), resident_name=resident)
        late_subject, site_id = late.process.subject, late.site_id
        elsewhere = Site(code=f"other-{uuid.uuid4().hex[:6]}", name=f"别处{uuid.uuid4().hex[:4]}")
        session.add(elsewhere)
        session.flush()
        elsewhere_id = elsewhere.id
    lead = people["lihua"]
    page = lead.page
    failed: list[str] = []

    def watch(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", watch)
    page.goto(f"{lead.base_url}/inbox?view=team")
    rows = page.get_by_test_id("task-row")
    page.get_by_role("searchbox").fill(resident)
    expect(rows.filter(has_text=subject)).to_have_count(1)
    expect(rows).to_have_count(2)
    page.locator("select[name=process]").select_option("complaint")
    page.locator("select[name=urgency]").select_option("urgent")
    page.locator("select[name=due]").select_option("overdue")
    page.get_by_role("button", name="筛选").click()
    expect(rows.filter(has_text=late_subject)).to_have_count(1)
    expect(rows).to_have_count(1)
    expect(page).to_have_url(
        f"{lead.base_url}/inbox?view=team&q={quote(resident)}"
        "&process=complaint&urgency=urgent&due=overdue"
    )
    page.reload()
    expect(page.locator("nav.mainnav")).to_be_visible()  # a page, not the raw JSON of a 422
    expect(rows.filter(has_text=late_subject)).to_have_count(1)
    expect(rows).to_have_count(1)
    expect(page.locator("select[name=urgency]")).to_have_value("urgent")
    expect(page.locator("select[name=due]")).to_have_value("overdue")
    # The week's deadlines hold the fresh complaint too.
    page.locator("select[name=due]").select_option("week")
    expect(rows).to_have_count(2)
    assert_fits(page, "the team view")
    keep(lead, "team-filtered")
    # The lead's team is her own site: she is not offered another's.
    expect(page.locator("select[name=site]")).to_have_count(0)

    # The ops admin's team view spans the sites; the site filter narrows it to one.
    admin = people["admin"]
    admin.page.on("response", watch)
    admin.page.goto(f"{admin.base_url}/inbox?view=team&q={quote(resident)}")
    admin_rows = admin.page.get_by_test_id("task-row")
    expect(admin_rows).to_have_count(2)
    admin.page.locator("select[name=site]").select_option(str(elsewhere_id))
    expect(admin.page.get_by_test_id("empty")).to_be_visible()
    expect(admin_rows).to_have_count(0)
    admin.page.locator("select[name=site]").select_option(str(site_id))
    expect(admin_rows).to_have_count(2)
    expect(admin.page).to_have_url(re.compile(rf"[?&]site={site_id}(&|$)"))
    admin.page.reload()
    expect(admin.page.locator("nav.mainnav")).to_be_visible()
    expect(admin_rows).to_have_count(2)
    expect(admin.page.locator("select[name=site]")).to_have_value(str(site_id))
    assert failed == []


def test_no_page_scrolls_sideways_at_phone_or_desktop_width(people: dict[str, Person]) -> None:
    manager = people["chenjing"]
    page = manager.page
    for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        for address in ("/dashboard", "/inbox?view=team", "/start", "/start/complaint", "/x"):
            page.goto(f"{manager.base_url}{address}")
            assert_fits(page, f"{address} at {width} width")
            assert_accessible(page, address)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_a_reopened_complaint_carries_why_and_what_each_step_decided(
    people: dict[str, Person],
) -> None:
    staff = people["zhangmin"]
    page = staff.page
    unit = f"8-{uuid.uuid4().hex[:6]}"
    page.goto(f"{staff.base_url}/start/complaint")
    page.fill("#f-resident_name", "刘女士")
    page.fill("#f-unit", unit)
    page.fill("#f-contact_phone", "13800138000")
    page.select_option("#f-category", "noise")
    page.select_option("#f-urgency", "urgent")
    page.fill("#f-description", "楼上深夜装修噪音")
    submit(staff)
    expect(page.get_by_test_id("process-subject")).to_contain_text(unit)
    open_task(staff, "mine", unit, "回复住户")
    page.fill("#f-response_note", "已电话联系业主")
    submit(staff)
    open_task(staff, "mine", unit, "处理投诉")
    page.select_option("#f-outcome", "resolved")
    page.fill("#f-summary", "施工已停止")
    submit(staff)

    # The return visit: a note and a photo on the task, then a poor rating with the reason.
    open_task(staff, "mine", unit, "回访")
    page.fill("textarea[name=body]", "住户说晚上十点后又开始施工")
    page.get_by_role("button", name="发表备注").click()
    expect(page.get_by_test_id("comments")).to_contain_text("又开始施工")
    # The page's own file button, in Chinese whatever the browser's language; the name shows.
    chosen = page.get_by_test_id("file-chosen")
    expect(chosen).to_have_text("未选择文件")
    expect(page.get_by_text("选择照片或文件")).to_be_visible()
    page.set_input_files(
        "input[type=file]", {"name": "现场.png", "mimeType": "image/png", "buffer": PNG}
    )
    expect(chosen).to_have_text("现场.png")
    page.get_by_role("button", name="上传附件").click()
    expect(page.locator("ul.files")).to_contain_text("现场.png")
    # A visit without a rating is refused: the summary takes the focus, the field is marked.
    submit(staff)
    expect(page.get_by_test_id("error-summary")).to_be_focused()
    rating = page.get_by_role("radio", name="1 非常不满意")
    expect(rating).to_have_attribute("aria-invalid", "true")
    expect(rating).to_have_attribute("aria-describedby", "err-satisfaction")
    assert_accessible(page, "the refused return visit")
    rating.check()
    page.fill("#f-comment", "又开始了")
    assert_fits(page, "the return visit")
    keep(staff, "return-visit-rating")
    submit(staff)
    expect(page.locator(".flash")).to_contain_text("已完成")
    # Back shows the task as it is now (done), not the stale open form.
    page.go_back()
    expect(page.get_by_test_id("task-title")).to_contain_text("回访")
    expect(page.get_by_test_id("step-form")).to_have_count(0)

    # The reopened resolution says why, and its history holds every earlier decision and file.
    open_task(staff, "mine", unit, "处理投诉")
    expect(page.get_by_test_id("reopened")).to_contain_text("又开始了")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("施工已停止")
    expect(timeline).to_contain_text("已电话联系业主")
    expect(timeline).to_contain_text("住户说晚上十点后又开始施工")
    # The visit's rating in its words, as the resident gave it, not a bare number.
    visit = timeline.get_by_test_id("event-task_completed").filter(has_text="回访")
    expect(visit).to_contain_text("1 非常不满意")
    expect(timeline.get_by_role("link", name="现场.png")).to_be_visible()
    assert_fits(page, "the reopened task")
    assert_accessible(page, "the reopened task")
    keep(staff, "reopened-task")


def test_the_sla_countdown_reads_to_the_minute_and_keeps_counting(
    people: dict[str, Person],
) -> None:
    with transaction() as session:
        task = complaint_task(session, utcnow())
        task_id, due_at = task.id, task.due_at
    assert due_at is not None
    staff = people["zhangmin"]
    page = staff.page
    # The phone's clock, 23 h 47 min before the deadline: the badge must not round it to 24 h.
    page.clock.install(time=due_at - timedelta(hours=23, minutes=47, seconds=10))
    page.goto(f"{staff.base_url}/tasks/{task_id}")
    countdown = page.get_by_test_id("countdown")
    expect(countdown).to_have_text("剩余 23小时47分钟")
    page.clock.run_for("02:00")
    expect(countdown).to_have_text("剩余 23小时45分钟")
    # Past the deadline it says so, in red, without a reload.
    page.clock.run_for("23:50:00")
    expect(countdown).to_have_text("已超时 4分钟")
    expect(countdown).to_have_class(re.compile(r"\bsla-overdue\b"))


def unread(page: Page) -> int:
    return int(page.get_by_test_id("unread-count").text_content() or 0)


def test_a_new_task_and_its_notice_arrive_on_the_open_inbox_without_a_reload(
    people: dict[str, Person],
) -> None:
    staff = people["zhangmin"]
    page = staff.page
    page.goto(f"{staff.base_url}/inbox?view=mine")
    # Gone after a reload or a navigation: the page must change in place.
    page.evaluate("window.stayedOpen = true")
    before = unread(page)

    resident = f"住户{uuid.uuid4().hex[:6]}"
    with transaction() as session:
        # Opening the task tells its holder, as any new or reassigned task does.
        subject = complaint_task(session, utcnow(), resident_name=resident).process.subject

    expect(page.get_by_test_id("task-row").filter(has_text=subject)).to_have_count(1)
    page.wait_for_function(
        f"Number(document.querySelector('[data-testid=unread-count]').textContent) > {before}"
    )
    assert page.evaluate("window.stayedOpen") is True
    assert_fits(page, "the live inbox")
    keep(staff, "live-inbox-bell")

    # The bell lists it, unread, in the words of its email; opening it goes to the task.
    page.get_by_test_id("bell").click()
    notice = page.get_by_test_id("notice").filter(has_text=subject).first
    expect(notice).to_contain_text("【待办】")
    expect(notice).to_have_class(re.compile(r"\bunread\b"))
    assert_accessible(page, "the notification centre")
    assert_fits(page, "the notification centre")
    notice.get_by_role("link").click()
    expect(page.get_by_test_id("task-title")).to_contain_text("回复住户")
    page.get_by_test_id("bell").click()
    expect(page.get_by_test_id("notice").filter(has_text=subject).first).to_have_class(
        re.compile(r"\bread\b")
    )

    # Mark all read: the count goes away.
    page.get_by_test_id("mark-all-read").click()
    expect(page.get_by_test_id("unread-count")).to_be_hidden()
    expect(page.locator(".notices li.unread")).to_have_count(0)
