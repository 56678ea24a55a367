"""A resignation in a real Chromium at phone width: HR records the notice for the leaver, the
supervisor approves the handover plan naming the successor, the leaver lists the work to hand
over, the successor signs for each item, and the supervisor follows the month on the dashboard.

Runs against the session's real Prefect server and runner; the browser is the only client.
"""

import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.models import HandoverItem, Resignation, Role, User, UserRole
from db.models.resignation import ItemState
from db.session import transaction
from domain.people import hash_password
from launch.demo import DEMO_PASSWORD
from launch.embedded import eventually
from tests.support.factories import person
from tests.web.conftest import DESKTOP, Person
from tests.web.pages import assert_accessible, assert_fits, keep, open_task, submit

pytestmark = pytest.mark.e2e


def test_hr_registers_a_resignation_the_supervisor_approves_the_handover_the_successor_signs(
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
    assert_accessible(hr.page, "the resignation form")
    submit(hr)
    expect(hr.page.get_by_test_id("process-subject")).to_contain_text(name)
    assert_accessible(hr.page, "the resignation's case page")

    supervisor = people["zhaolei"]
    open_task(supervisor, "approvals", name, "审批交接计划")
    keep(supervisor, "approval")
    assert_accessible(supervisor.page, "the handover plan's approval")
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
    assert_accessible(page, "the handover inventory")
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
    assert_accessible(successor.page, "the successor's sign-off")
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
