"""A month's training plan in a real Chromium at phone width: the supervisor drafts it, the site
manager reads it as a document and sends it back with a reason, the supervisor revises it, the
manager sees what changed and approves, the front desk is told, and on the session's afternoon
the supervisor, its trainer, records who came. Only through pages; the inbox clock is moved to
the session's day."""

import calendar
import random
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.models import AttendanceRecord, TrainingSession
from db.session import transaction
from launch.embedded import Stack, eventually
from tests.web.conftest import Person
from tests.web.pages import assert_accessible, assert_fits, field, keep, open_task, submit

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")


def next_month_weekday() -> date:
    """Return a weekday of a month far enough ahead that no other test plans for it."""
    year = date.today().year + random.randint(1, 3)
    month = random.randint(1, 12)
    day = date(year, month, 10)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    assert day.day <= calendar.monthrange(year, month)[1]
    return day


def approval_page(manager: Person, period: str) -> None:
    """Open the plan's approval from the manager's approvals and take it."""
    open_task(manager, "approvals", period, "审批培训计划")
    if manager.page.get_by_test_id("claim").count():
        manager.page.get_by_test_id("claim").click()


def test_supervisor_drafts_revises_and_records_the_session_the_manager_sends_back_and_approves(
    inbox_clock: Stack, people: dict[str, Person]
) -> None:
    on = next_month_weekday()
    supervisor = people["zhaolei"]
    page = supervisor.page
    page.goto(f"{supervisor.base_url}/start/training_plan")
    page.select_option("#f-kind", "monthly")
    page.fill("#f-year", str(on.year))
    page.fill("#f-month", str(on.month))
    submit(supervisor)
    expect(page.get_by_test_id("process-subject")).to_be_visible()
    period = page.get_by_test_id("process-subject").inner_text()

    # The draft page opens (it answered 500) and takes a whole plan, rows and all; the
    # supervisor gives the session himself.
    open_task(supervisor, "mine", period, "制定培训计划")
    topic = f"投诉处理技巧{uuid.uuid4().hex[:4]}"
    page.fill("#f-title", f"{on.year}年{on.month}月客服培训计划")
    page.check("#f-compliance_confirmed")
    page.fill(field("items.0.topic"), topic)
    page.select_option(field("items.0.attendee_roles"), "staff")
    page.select_option(field("items.0.trainer_id"), label="赵磊")
    page.select_option(field("items.0.method"), "lecture")
    page.fill(field("items.0.hours"), "2")
    page.fill(field("items.0.sessions.0.starts_at"), f"{on.isoformat()}T14:00")
    page.fill(field("items.0.sessions.0.venue"), "二楼会议室")
    page.fill(field("items.0.assessment_criteria"), "笔试80分及格")
    page.select_option(field("budget.0.category"), "materials")
    page.fill(field("budget.0.description"), "讲义印刷")
    page.fill(field("budget.0.amount"), "300")
    assert_fits(page, "the draft form")
    keep(supervisor, "plan-draft")
    submit(supervisor)
    expect(page.locator(".flash")).to_contain_text("已完成")

    # The site manager reads the plan as a document in Chinese, no JSON and no codes.
    manager = people["chenjing"]
    mpage = manager.page
    approval_page(manager, period)
    document = mpage.get_by_test_id("plan-document")
    expect(document.get_by_test_id("plan-sessions")).to_contain_text(topic)
    expect(document.get_by_test_id("plan-sessions")).to_contain_text("赵磊")
    expect(document.get_by_test_id("plan-sessions")).to_contain_text("二楼会议室")
    expect(document.get_by_test_id("plan-budget-total")).to_have_text("300.00")
    expect(document.get_by_test_id("plan-criteria")).to_contain_text("笔试80分及格")
    expect(document.get_by_test_id("plan-compliance")).to_contain_text("✔")
    card = mpage.locator("article.task-page").inner_text()
    for leak in ("\\u", "{", "Trainer id", "Period", "Version", "Drafter", "training_plan/"):
        assert leak not in card, leak
    site_row = mpage.locator("dt", has_text="管理处").first.locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(site_row).not_to_contain_text("张敏")
    assert_fits(mpage, "the approval page")
    assert_accessible(mpage, "the approval page")
    keep(manager, "plan-approval-document")
    mpage.select_option("#f-outcome", "reject")
    mpage.fill("#f-reason", "课时不足，请增加到3小时")
    submit(manager)
    expect(mpage.locator(".flash")).to_contain_text("已完成")

    # The revise page opens with the reason; the second approval shows what changed and why.
    open_task(supervisor, "mine", period, "修改培训计划")
    expect(page.locator("article.task-page")).to_contain_text("课时不足，请增加到3小时")
    page.fill(field("items.0.hours"), "3")
    keep(supervisor, "plan-revise")
    submit(supervisor)
    expect(page.locator(".flash")).to_contain_text("已完成")
    approval_page(manager, period)
    expect(mpage.get_by_test_id("plan-changes")).to_contain_text("课时")
    expect(mpage.get_by_test_id("plan-changes")).to_contain_text("3")
    expect(mpage.get_by_test_id("plan-decisions")).to_contain_text("课时不足，请增加到3小时")
    keep(manager, "plan-approval-revised")
    mpage.select_option("#f-outcome", "approve")
    submit(manager)
    expect(mpage.locator(".flash")).to_contain_text("已完成")

    # The approved plan is announced to its attendees: the front desk finds it under the bell.
    desk = people["zhangmin"]
    desk.page.goto(f"{desk.base_url}/notices")
    expect(desk.page.get_by_test_id("notice").filter(has_text=period).first).to_be_visible()
    keep(desk, "plan-announced-notices")

    # On the session's afternoon (a month or more ahead) the supervisor logs in again and
    # records the session: held, who came, a summary.
    inbox_clock.clock = lambda: datetime.combine(on, time(16, 0), tzinfo=SHANGHAI)
    supervisor.log_in()
    open_task(supervisor, "mine", period, "登记培训记录")
    expect(page.locator("article.task-page")).to_contain_text(topic)
    page.check("#f-held")
    page.select_option(field("attendance.0.employee_id"), label="张敏")
    page.select_option(field("attendance.0.status"), "present")
    page.fill("#f-summary", "案例演练效果好")
    assert_fits(page, "the session record")
    assert_accessible(page, "the session record")
    keep(supervisor, "plan-session-record")
    submit(supervisor)
    expect(page.locator(".flash")).to_contain_text("已完成")

    def attended() -> list[str] | None:
        with transaction() as session:
            held = session.scalars(
                select(TrainingSession).where(TrainingSession.topic == topic)
            ).one()
            if held.recorded_at is None:
                return None
            return list(
                session.scalars(
                    select(AttendanceRecord.status).where(AttendanceRecord.session_id == held.id)
                )
            )

    assert eventually(attended, "the session's attendance") == ["present"]
