"""HR's week with a new hire in a real Chromium at phone width: HR registers her, the supervisor
names her mentor, the trainer and the mentor confirm each training day on its own working day,
and HR records the exam (a score over the maximum is refused in Chinese). Only through pages;
the inbox clock is moved from day to day."""

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.models import NewHire, OnboardingState
from db.session import transaction
from launch.embedded import Stack, eventually
from rules.calendar import load_calendars
from rules.onboarding import load_policy, training_schedule
from tests.web.conftest import Person
from tests.web.pages import assert_accessible, assert_fits, keep, open_task, submit, task_row

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
MORNING = time(9, 0)
# Everyone logs in at a moment after the whole week: their sessions hold at every earlier one.
LOGIN_AT = datetime(2027, 6, 30, 12, 0, tzinfo=SHANGHAI)
START = date(2027, 3, 1)  # a Monday


def at_morning(day: date) -> datetime:
    return datetime.combine(day, MORNING, tzinfo=SHANGHAI)


@pytest.fixture
def week(inbox_clock: Stack) -> Stack:
    """The stack, its inbox clock at LOGIN_AT for the logins."""
    inbox_clock.clock = lambda: LOGIN_AT
    return inbox_clock


def test_hr_registers_a_new_hire_her_week_is_confirmed_day_by_day_and_she_passes(
    week: Stack, people: dict[str, Person]
) -> None:
    hr, supervisor = people["sunli"], people["zhaolei"]
    trainer, mentor = people["lihua"], people["wangqiang"]
    name = f"新员工{uuid.uuid4().hex[:4]}"
    week.clock = lambda: at_morning(START - timedelta(days=7))

    # HR registers her, choosing the trainer by name.
    page = hr.page
    page.goto(f"{hr.base_url}/start")
    page.get_by_role("link", name="登记新员工").click()
    page.fill("#f-name", name)
    page.fill("#f-post", "前台客服")
    page.fill("#f-start_date", START.isoformat())
    page.select_option("#f-trainer_id", label="李华")
    assert_fits(page, "the new-hire form")
    keep(hr, "hr-new-hire")
    submit(hr)
    expect(page.get_by_test_id("process-subject")).to_contain_text(name)

    # The supervisor takes the mentor choice from the queue and names 王强.
    task_row(supervisor, "queue", name, "为新员工指定导师").get_by_role(
        "button", name="认领"
    ).click()
    open_task(supervisor, "mine", name, "为新员工指定导师")
    supervisor.page.select_option("#f-mentor_id", label="王强")
    submit(supervisor)
    expect(supervisor.page.locator(".flash")).to_contain_text("已完成")

    # Each training day is confirmed on its own working day, by the trainer or the mentor.
    calendar, policy = load_calendars()["day_shift"], load_policy()
    for day in training_schedule(policy, calendar, START):
        week.clock = lambda on=day.on: at_morning(on)
        if day.with_mentor:
            open_task(mentor, "mine", name, "确认跟岗实习并填写导师记录")
            mentor.page.fill("#f-notes", f"第{day.day}天跟岗表现良好")
            submit(mentor)
            expect(mentor.page.locator(".flash")).to_contain_text("已完成")
        else:
            open_task(trainer, "mine", name, "确认当天入职培训")
            submit(trainer)
            expect(trainer.page.locator(".flash")).to_contain_text("已完成")

    # The exam: a theory score over 90 is refused beside its field, then recorded.
    exam_day = calendar.nth_working_day(START, policy.exam_working_day)
    week.clock = lambda: at_morning(exam_day)
    open_task(hr, "mine", name, "录入入职考核成绩")
    page.fill("#f-theory", "95")
    page.fill("#f-discipline", "8")
    submit(hr)
    expect(page.get_by_test_id("error-theory")).to_contain_text("不能大于 90")
    assert_accessible(page, "the refused exam score")
    page.fill("#f-theory", "70")
    submit(hr)
    expect(page.locator(".flash")).to_contain_text("已完成")

    def on_post() -> NewHire | None:
        with transaction() as session:
            hire = session.scalars(select(NewHire).where(NewHire.name == name)).one()
            return hire if hire.state == OnboardingState.ON_POST else None

    eventually(on_post, f"{name} on post")
