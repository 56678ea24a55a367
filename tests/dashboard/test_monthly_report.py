"""The monthly report: which day it goes out, to whom, what it carries, and that it goes once."""

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config import get_settings
from dashboard.monthly_report import (
    REPORT_CALENDAR,
    DueReport,
    is_first_working_day_of_month,
    queue_report,
    report_context,
    report_figures,
    report_recipients,
    reports_due,
)
from db.models import (
    Event,
    OutboxMessage,
    Process,
    ProcessKind,
    ProcessState,
    Role,
    Site,
    User,
    UserRole,
)
from domain.calendars import calendar_book
from flows.catalog import STEP_TITLES
from flows.monthly_report import monthly_report

BEIJING = ZoneInfo("Asia/Shanghai")
# April 2026 starts on a Wednesday, a working day.
APRIL_FIRST_0900 = datetime(2026, 4, 1, 9, 0, tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("day", "first"),
    [
        (date(2026, 3, 2), True),  # Monday; Mar 1 is a Sunday
        (date(2026, 3, 1), False),
        (date(2026, 3, 3), False),
        (date(2026, 1, 1), False),  # New Year's Day
        (date(2026, 1, 4), True),  # a Sunday made a working day (调休) after the holiday
        (date(2026, 1, 5), False),
        (date(2026, 5, 6), True),  # after the May Day holidays
        (date(2026, 10, 8), True),  # after the National Day week
        (date(2026, 10, 10), False),  # a make-up Saturday, but not the first working day
    ],
)
def test_first_working_day_of_the_month(day: date, first: bool) -> None:
    assert is_first_working_day_of_month(calendar_book().shared[REPORT_CALENDAR], day) is first


def test_flow_is_named_for_its_deployment() -> None:
    assert monthly_report.name == "monthly-report"


def add_person(session: Session, site: Site, name: str, role: Role, locale: str = "zh_CN") -> User:
    user = User(
        username=f"{name}-{uuid.uuid4().hex[:6]}",
        display_name=name,
        password_hash="-",
        site_id=site.id,
        locale=locale,
        email=f"{uuid.uuid4().hex[:8]}@example.cn",
    )
    user.roles = [UserRole(role=role)]
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def site(session: Session) -> Site:
    site = Site(code=f"R-{uuid.uuid4().hex[:6]}", name="丙管理处", timezone="Asia/Shanghai")
    session.add(site)
    session.flush()
    staff = add_person(session, site, "王管家", Role.STAFF)
    add_person(session, site, "李经理", Role.SITE_MANAGER)
    add_person(session, site, "Lead", Role.SHIFT_LEAD, locale="en")
    # March: two complaints received, one closed with a rating of 5.
    for received_day, closed_day in ((3, 4), (20, None)):
        process = Process(
            kind=ProcessKind.COMPLAINT,
            site_id=site.id,
            subject="噪音",
            state=ProcessState.RUNNING if closed_day is None else ProcessState.CLOSED,
            started_by_id=staff.id,
        )
        session.add(process)
        session.flush()
        received = datetime(2026, 3, received_day, 9, tzinfo=BEIJING)
        session.add(Event(process_id=process.id, kind="complaint_received", at=received,
                          data={"category": "noise"}))  # fmt: skip
        if closed_day is not None:
            closed = datetime(2026, 3, closed_day, 9, tzinfo=BEIJING)
            session.add(Event(process_id=process.id, kind="complaint_closed", at=closed,
                              data={"satisfaction": 5}))  # fmt: skip
    session.flush()
    return site


def due_here(session: Session, site: Site, now: datetime) -> DueReport | None:
    return next((r for r in reports_due(session, now, calendar_book(), REPORT_CALENDAR)
                 if r.site_id == site.id), None)  # fmt: skip


def run_the_flow_logic(session: Session, site: Site, now: datetime) -> int:
    """Do what the flow does for this site; return the outbox rows it added."""
    report = due_here(session, site, now)
    if report is None:
        return 0
    figures = report_figures(session, report, now)
    context = report_context(report, figures, STEP_TITLES, get_settings())
    return queue_report(session, report, context, now)


def report_rows(session: Session, site: Site) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.event == "monthly_report")
            .join(User, User.id == OutboxMessage.recipient_id)
            .where(User.site_id == site.id)
            .order_by(OutboxMessage.id)
        )
    )


def test_the_report_covers_last_month_on_the_first_working_day(
    session: Session, site: Site
) -> None:
    report = due_here(session, site, APRIL_FIRST_0900)

    assert report is not None
    assert report.month == "2026-03" and report.key == f"monthly-report:{site.code}:2026-03"
    assert report.start == datetime(2026, 3, 1, tzinfo=BEIJING)
    assert report.end == datetime(2026, 4, 1, tzinfo=BEIJING)
    # The next day is not the first working day: nothing is due.
    assert due_here(session, site, datetime(2026, 4, 2, 9, tzinfo=BEIJING)) is None


def test_only_the_managers_receive_it(session: Session, site: Site) -> None:
    names = [user.display_name for user in report_recipients(session, site.id)]

    assert names == ["李经理", "Lead"]


def test_running_twice_queues_one_report_per_manager(session: Session, site: Site) -> None:
    first = run_the_flow_logic(session, site, APRIL_FIRST_0900)
    again = run_the_flow_logic(session, site, APRIL_FIRST_0900.replace(hour=15))

    rows = report_rows(session, site)
    # Two managers, each by email; the second run added nothing.
    assert (first, again, len(rows)) == (2, 0, 2)
    assert session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.dedup_key.like(f"monthly-report:{site.code}:2026-03:%")
        )
    ) == 2  # fmt: skip


def test_the_email_carries_the_figures_tables_and_charts(session: Session, site: Site) -> None:
    run_the_flow_logic(session, site, APRIL_FIRST_0900)

    chinese, english = report_rows(session, site)
    assert chinese.subject == "【月度运营报告】丙管理处 2026-03"
    assert english.subject == "[Monthly report] 丙管理处 2026-03"
    assert chinese.body_html is not None and english.body_html is not None
    # Received 2, closed 1; the tables and the inline SVG charts are in the HTML.
    assert "受理 / 结案" in chinese.body_html and "2 / 1" in chinese.body_html
    assert "投诉指标" in chinese.body_html and "受理投诉数" in chinese.body_html
    assert chinese.body_html.count("<svg") == 3 and 'role="img"' in chinese.body_html
    assert "噪音扰民" in chinese.body_html and "Complaint measures" in english.body_html
    assert "受理投诉数 | 2" in chinese.body and "Complaints received | 2" in english.body
    assert chinese.link_url is not None and chinese.link_url.endswith("/dashboard")
