"""The shift lead's morning in a real Chromium at phone width: find the team's cases of one
resident, hand both to a colleague at once with the reason (her open inbox shows them without a
reload), take one back from its page, and keep the search as a saved view."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from db.base import utcnow
from db.models import Event, InboxTask
from db.session import transaction
from tests.support.factories import complaint_task, person
from tests.web.conftest import Person
from tests.web.pages import assert_accessible, assert_fits, keep

pytestmark = pytest.mark.e2e


def test_shift_lead_hands_a_residents_cases_over_takes_one_back_and_saves_the_view(
    people: dict[str, Person],
) -> None:
    resident = f"钱{uuid.uuid4().hex[:4]}"
    with transaction() as session:
        tasks = [
            complaint_task(session, utcnow(), resident_name=resident, category=category)
            for category in ("noise", "parking")
        ]
        task_ids = sorted(task.id for task in tasks)
        wangqiang_id = person(session, "wangqiang").id

    # 王强's inbox is open on his phone while the lead works.
    colleague = people["wangqiang"]
    colleague.page.goto(f"{colleague.base_url}/inbox?view=mine")
    colleague.page.evaluate("window.stayedOpen = true")

    lead = people["lihua"]
    page = lead.page
    page.goto(f"{lead.base_url}/inbox")
    page.get_by_test_id("tab-team").click()
    # The team view has replaced my tasks (a boosted link swaps the page in) before typing.
    expect(page.get_by_test_id("tab-team")).to_have_attribute("aria-current", "page")
    search = page.get_by_role("searchbox")
    search.fill(resident)
    expect(search).to_have_value(resident)
    # The phone keyboard's search key: typed while the team view was still being bound, the
    # search would otherwise wait for the next keystroke (htmx takes the box's value as seen).
    search.press("Enter")
    rows = page.get_by_test_id("task-row")
    expect(rows).to_have_count(2)
    for task_id in task_ids:
        page.get_by_role("checkbox", name=f"选择 #{task_id}").check()
    # Narrowing the list after ticking keeps the ticks on the rows it still lists.
    page.locator("select[name=process]").select_option("complaint")
    expect(page).to_have_url(re.compile("process=complaint"))
    for task_id in task_ids:
        expect(page.get_by_role("checkbox", name=f"选择 #{task_id}")).to_be_checked()
    bulk = page.locator("fieldset.bulk")
    bulk.get_by_label("分派给").select_option(label="王强")
    bulk.get_by_label("原因").fill("张敏今天外出")
    bulk.get_by_role("button", name="分派").click()
    expect(page.locator(".flash")).to_contain_text("已处理 2 项")
    expect(rows.filter(has_text="王强")).to_have_count(2)
    assert_fits(page, "the team view after a bulk assignment")
    keep(lead, "shift-lead-bulk-assign")

    # Both arrive on 王强's open page by themselves (he is not in the middle of ticking any).
    for task_id in task_ids:
        expect(colleague.page.locator(f"#row-{task_id}")).to_be_visible()
    assert colleague.page.evaluate("window.stayedOpen") is True

    # One goes back to 张敏 from its page, with the reason; the case history keeps it.
    rows.first.locator("a.task-link").click()
    page.get_by_test_id("reassign-to").select_option(label="张敏")
    page.locator("form[action$='/reassign']").get_by_label("原因").fill("张敏已回来，熟悉情况")
    page.get_by_test_id("reassign").click()
    expect(page.locator(".meta").filter(has_text="办理人")).to_contain_text("张敏")
    expect(page.get_by_test_id("timeline")).to_contain_text("张敏已回来，熟悉情况")
    assert_accessible(page, "the reassigned task")
    with transaction() as session:
        holders = [
            t.assignee_id for t in session.query(InboxTask).filter(InboxTask.id.in_(task_ids))
        ]
        reasons = [
            e.data.get("reason")
            for e in session.query(Event).filter(Event.task_id.in_(task_ids))
            if e.kind == "task_reassigned"
        ]
    assert holders.count(wangqiang_id) == 1
    assert sorted(r for r in reasons if r) == [
        "张敏今天外出",
        "张敏今天外出",
        "张敏已回来，熟悉情况",
    ]

    # The search, kept as a view, lists the resident's cases again.
    page.goto(f"{lead.base_url}/inbox?view=team&q={resident}")
    page.locator("details.saved-views summary").click()
    page.get_by_label("视图名称").fill(f"{resident}的投诉")
    # Saved once the answer is in: leaving the page at once would cancel the boosted post.
    with page.expect_response(lambda r: r.url.endswith("/inbox/views")):
        page.get_by_role("button", name="保存当前视图").click()
    page.goto(f"{lead.base_url}/inbox")
    page.locator("details.saved-views summary").click()
    page.get_by_role("link", name=f"{resident}的投诉").click()
    expect(page.get_by_test_id("task-row")).to_have_count(2)
