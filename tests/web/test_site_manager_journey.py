"""The site manager's decision on a new hire who failed the exam four times, in a real Chromium at
phone width: she finds it among her approvals, reads the exams behind it, is told in Chinese that
a dismissal needs a reason, and dismisses. HR, the supervisor and the mentor did their steps
through the REST API here (their pages are HR's journey); the inbox clock is moved day by day."""

from datetime import date

import pytest
from playwright.sync_api import expect

from launch.embedded import Stack
from tests.support.factories import user_id
from tests.support.onboarding import (
    DAY_SHIFT,
    LOGIN_AT,
    MORNING,
    choose_mentor,
    exam_task,
    finish,
    local,
    outbox_recipients,
    record,
    register,
    run_training_week,
    set_clock,
    settled,
)
from tests.web.conftest import Person
from tests.web.pages import assert_accessible, assert_fits, keep, open_task, submit

pytestmark = pytest.mark.e2e


def test_three_fails_then_the_final_retake_fails_and_the_site_manager_dismisses(
    inbox_clock: Stack, people: dict[str, Person]
) -> None:
    stack = inbox_clock
    set_clock(stack, LOGIN_AT)
    hr, supervisor, mentor = (stack.login(name) for name in ("sunli", "zhaolei", "wangqiang"))
    manager = people["chenjing"]
    start = date(2027, 3, 1)
    set_clock(stack, local(date(2027, 2, 26), MORNING))
    # HR trains this cohort herself.
    process_id, cohort = register(hr, start, trainer="sunli")
    name = record(hr, process_id)["name"]
    choose_mentor(supervisor, process_id, "wangqiang")
    reports = {1: {"unexcused_absence": True}}
    run_training_week(stack, hr, mentor, process_id, start, reports)

    set_clock(stack, local(DAY_SHIFT.nth_working_day(start, 7), MORNING))
    for attempt in (1, 2, 3, 4):
        exam = exam_task(stack, hr, process_id, attempt)
        finish(hr, exam, {"theory": 40, "discipline": 5, "note": "不合格"})
        if attempt < 4:
            retraining = hr.open_task(process_id, "onboarding.retraining")
            assert retraining["step_key"] == f"retraining-{attempt}"
            finish(hr, retraining, {"notes": "重讲服务规范与投诉处理流程"})

    # The site manager finds the decision among her approvals and reads the four exams.
    page = manager.page
    open_task(manager, "approvals", name, "决定是否辞退新员工")
    if page.get_by_test_id("claim").count():
        page.get_by_test_id("claim").click()
    expect(page.locator("article.task-page")).to_contain_text(name)
    hire_record = page.get_by_test_id("hire-record")
    exams = hire_record.get_by_test_id("hire-exams").locator("tbody tr")
    expect(exams).to_have_count(4)
    for row in exams.all():
        expect(row).to_contain_text("不合格")
    expect(hire_record.get_by_test_id("hire-points-total")).to_have_text(str(-2 - 3 - 6 - 10))
    expect(hire_record.get_by_test_id("hire-deductions")).to_contain_text("无故缺勤")
    assert_fits(page, "the dismissal decision")
    assert_accessible(page, "the dismissal decision")
    keep(manager, "dismissal-decision")

    # A dismissal without a reason is refused beside the field, in Chinese; then she gives one.
    page.select_option("#f-decision", "dismiss")
    submit(manager)
    expect(page.get_by_test_id("error-reason")).to_be_visible()
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "the refused dismissal")
    page.fill("#f-reason", "最后期限内仍未通过考核")
    submit(manager)
    expect(page.locator(".flash")).to_contain_text("已完成")

    # Each missed pass-rate target (0 % by attempts 1, 2 and 3) sends the trainer back.
    for attempt in (1, 2, 3):
        revise = hr.open_task(process_id, "onboarding.revise-training")
        assert revise["step_key"] == f"revise-training-{attempt}"
        finish(hr, revise, {"revision": f"第{attempt}次：增加案例演练"})

    done = settled(hr, process_id, "dismissed")
    exam_points = [p["points"] for p in done["points"] if p["reason"] == "exam_fail"]
    assert exam_points == [-3, -6, -10]
    assert done["points_total"] == -2 - 3 - 6 - 10
    assert [a["passed"] for a in done["exam_attempts"]] == [False] * 4
    assert len(done["retrainings"]) == 3
    assert done["final_deadline"] is not None
    assert done["outcome_note"] == "最后期限内仍未通过考核"
    assert user_id("sunli") in outbox_recipients(process_id, "onboarding_dismissed")
    assert len(outbox_recipients(process_id, "onboarding_exam_failed")) >= 1

    rates = hr.ok("GET", "/onboardings/trainers/pass-rates", params={"cohort": cohort})
    assert [r["status"] for r in rates[0]["rates"]] == ["missed"] * 3
    # The third miss costs the trainer the qualification: no new cohort for her.
    assert rates[0]["disqualified"] is True
    refused = hr.post(
        "/onboardings",
        json={
            "name": "李四",
            "post": "管家",
            "start_date": "2027-04-01",
            "trainer_id": user_id("sunli"),
        },
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["message"] == "培训讲师: 该讲师已被取消培训资格"
