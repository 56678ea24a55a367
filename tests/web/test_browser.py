"""The web inbox in a real Chromium, at phone width, in Chinese: every step of a complaint, a
validation error, a manager's approval, and another person kept out.

Runs against the session's real Prefect server and runner; the browser is the only client.
"""

import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.models import HandoverItem, Process, Resignation, Role, User, UserRole
from db.models.resignation import ItemState
from db.session import transaction
from domain.people import hash_password
from launch.demo import DEMO_PASSWORD
from launch.embedded import eventually
from tests.support.factories import person
from tests.web.conftest import DESKTOP, Person
from tests.web.pages import assert_fits, keep, open_task, submit, task_row

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
    page.fill("#f-contact_phone", "13800138000")
    submit(staff)
    expect(page.get_by_test_id("process-subject")).to_contain_text(unit)

    # First response (首问负责: the recorder holds it); an empty note is refused inline.
    open_task(staff, "mine", unit, "回复住户")
    expect(page.get_by_test_id("countdown")).to_be_visible()
    submit(staff)
    expect(page.get_by_test_id("error-response_note")).to_be_visible()
    keep(staff, "task-validation-error")
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


def test_hr_registers_a_resignation_the_manager_approves_the_handover_and_the_successor_signs(
    people: dict[str, Person],
) -> None:
    username = f"leaver{uuid.uuid4().hex[:6]}"
    name = f"离职员工{uuid.uuid4().hex[:4]}"
    with transaction() as session:
        site_id = person(session, "zhangmin").site_id
        leaver = User(username=username, display_name=name, site_id=site_id,
                      password_hash=hash_password(DEMO_PASSWORD))  # fmt: skip
        leaver.roles = [UserRole(role=Role.STAFF)]
        session.add(leaver)
        session.flush()
        wangqiang_id = person(session, "wangqiang").id

    # HR records the notice on the leaver's behalf, choosing them by name.
    hr = people["sunli"]
    hr.page.goto(f"{hr.base_url}/start/resignation")
    hr.page.select_option("#f-leaver_id", label=name)
    hr.page.fill("#f-last_working_day", (date.today() + timedelta(days=60)).isoformat())
    hr.page.fill("#f-reason", "回老家发展")
    keep(hr, "hr-resignation")
    submit(hr)
    expect(hr.page.get_by_test_id("process-subject")).to_contain_text(name)

    supervisor = people["zhaolei"]
    open_task(supervisor, "approvals", name, "审批交接计划")
    keep(supervisor, "approval")
    supervisor.page.select_option("#f-successor_id", label="王强")
    supervisor.page.select_option("#f-supervisor_id", label="赵磊")
    supervisor.page.fill("#f-handover_starts_on", (date.today() + timedelta(days=1)).isoformat())
    supervisor.page.fill("#f-handover_ends_on", (date.today() + timedelta(days=10)).isoformat())
    submit(supervisor)
    expect(supervisor.page.locator(".flash")).to_contain_text("已完成")

    # The plan is approved: the leaver lists the work to hand over and the session to give.
    employee = people[username]
    page = employee.page
    open_task(employee, "mine", name, "清点交接工作")
    page.select_option('[id="f-items.0.category"]', "keys")
    page.fill('[id="f-items.0.description"]', "机房门禁卡")
    page.fill('[id="f-items.0.location"]', "前台抽屉")
    page.fill('[id="f-sessions.0.topic"]', "投诉升级流程")
    page.select_option('[id="f-sessions.0.format"]', "face_to_face")
    page.fill('[id="f-sessions.0.scheduled_on"]', (date.today() + timedelta(days=3)).isoformat())
    submit(employee)
    expect(page.locator(".flash")).to_contain_text("已完成")

    # The successor signs for each item on the list, seeing what and where it is.
    successor = people["wangqiang"]
    open_task(successor, "mine", name, "逐项确认交接清单")
    form = successor.page.get_by_test_id("step-form")
    expect(form.get_by_test_id("listed-verdicts.0.item_id")).to_contain_text("机房门禁卡")
    form.locator('[id="f-verdicts.0.verdict"]').select_option("accept")
    assert_fits(successor.page, "the successor's sign-off")
    keep(successor, "handover-sign-off")
    submit(successor)
    expect(successor.page.locator(".flash")).to_contain_text("已完成")

    def signed() -> tuple[str, int | None] | None:
        with transaction() as session:
            item = session.scalars(
                select(HandoverItem).join(Resignation).where(Resignation.leaver_id == leaver.id)
            ).one_or_none()
            return (item.state, item.confirmed_by_id) if item and item.confirmed_at else None

    assert eventually(signed, "the item signed for") == (ItemState.ACCEPTED, wangqiang_id)

    # The dashboard: the month in charts, at phone and desktop width; a number opens its cases.
    supervisor.page.goto(f"{supervisor.base_url}/dashboard")
    expect(supervisor.page.get_by_test_id("charts").locator("svg")).to_have_count(4)
    keep(supervisor, "dashboard")
    supervisor.page.set_viewport_size(DESKTOP)
    supervisor.page.get_by_test_id("kpis").locator("a.kpi").first.click()
    expect(supervisor.page.get_by_test_id("drill-processes")).to_be_visible()

    # A staff member has no approvals queue.
    response = employee.page.goto(f"{employee.base_url}/inbox?view=approvals")
    assert response is not None and response.status == 403
