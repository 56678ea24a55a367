"""The front desk's complaint in a real Chromium at phone width, in Chinese: 张敏 records it while
the resident is on the phone (a mistake shown beside its field), gives the first response,
dispatches it to engineering, where 刘工 claims it from the role queue and reports; she resolves
it and makes the return visit, and the case closes. A colleague cannot open her task. (A visit
rated poor and the reopened task are in test_web_day_browser.py.)

Runs against the session's real Prefect server and runner; the browser is the only client.
"""

import uuid

import pytest
from playwright.sync_api import expect

from db.models import Process
from db.session import transaction
from launch.embedded import eventually
from tests.web.conftest import Person
from tests.web.pages import assert_accessible, keep, open_task, submit, task_row

pytestmark = pytest.mark.e2e


def test_complaint_from_front_desk_to_closed_in_the_browser(people: dict[str, Person]) -> None:
    staff = people["zhangmin"]
    page = staff.page
    expect(page.locator("nav.mainnav")).to_contain_text("我的任务")
    unit = f"9-{uuid.uuid4().hex[:6]}"

    # The front-desk form: a mistake is shown beside its field and nothing typed is lost.
    page.goto(f"{staff.base_url}/start/complaint")
    page.fill("#f-resident_name", "王先生")
    page.fill("#f-unit", unit)
    page.fill("#f-contact_phone", "电话号码")
    page.select_option("#f-category", "noise")
    page.select_option("#f-urgency", "urgent")
    page.fill("#f-description", "楼上深夜装修噪音")
    submit(staff)
    expect(page.get_by_test_id("error-contact_phone")).to_have_text("格式不正确")
    expect(page.locator("#f-unit")).to_have_value(unit)
    keep(staff, "complaint-form-error")
    assert_accessible(page, "the complaint form with its mistake")
    page.fill("#f-contact_phone", "13800138000")
    submit(staff)
    expect(page.get_by_test_id("process-subject")).to_contain_text(unit)

    # First response (首问负责: the recorder holds it); an empty note is refused inline.
    open_task(staff, "mine", unit, "回复住户")
    expect(page.get_by_test_id("countdown")).to_be_visible()
    submit(staff)
    expect(page.get_by_test_id("error-response_note")).to_be_visible()
    keep(staff, "task-validation-error")
    assert_accessible(page, "the refused first response")
    page.fill("#f-response_note", "已电话联系业主，今晚处理")
    submit(staff)
    expect(page.locator(".flash")).to_contain_text("已完成")

    # Resolution dispatched to engineering; the engineer claims it from the role queue.
    open_task(staff, "mine", unit, "处理投诉")
    page.select_option("#f-outcome", "dispatch")
    page.fill("#f-summary", "请工程部检查")
    page.select_option("#f-department", "engineering")
    submit(staff)
    engineer = people["liugong"]
    row = task_row(engineer, "queue", unit, "处理派单")
    row.get_by_role("button", name="认领").click()
    open_task(engineer, "mine", unit, "处理派单")
    engineer.page.fill("#f-work_done", "已要求施工方停工")
    submit(engineer)

    # Back to the owner of record: resolved, then the return visit closes the case.
    open_task(staff, "mine", unit, "处理投诉")
    page.select_option("#f-outcome", "resolved")
    page.fill("#f-summary", "施工已停止")
    submit(staff)
    task_url = open_task(staff, "mine", unit, "回访")
    keep(staff, "return-visit")
    assert_accessible(page, "the return visit")

    # Someone else at the same site can neither list nor open the task.
    colleague = people["wangqiang"]
    response = colleague.page.goto(task_url)
    assert response is not None and response.status == 404
    expect(colleague.page.get_by_test_id("error-page")).to_be_visible()

    page.goto(task_url)
    page.get_by_role("radio", name="5 非常满意").check()
    page.fill("#f-comment", "很满意")
    submit(staff)

    def closed() -> bool:
        with transaction() as session:
            process = session.query(Process).filter(Process.subject.contains(unit)).one()
            return process.state == "closed"

    eventually(closed, "the complaint closed")
    # Done by me: both resolutions, the response and the visit (the engineer did the work).
    page.goto(f"{staff.base_url}/inbox?view=done&q={unit}")
    expect(page.locator("[data-testid=task-row]")).to_have_count(4)
    page.locator("[data-testid=task-row] a.task-link").first.click()
    expect(page.get_by_test_id("task-title")).to_be_visible()
    page.locator(".crumbs a[href^='/processes/']").click()
    expect(page.get_by_test_id("process-state")).to_have_text("已关闭")
    expect(page.get_by_test_id("timeline")).to_contain_text("张敏")
    keep(staff, "process-history")
    assert_accessible(page, "the closed case")
