"""The daily digest: working days only, after 08:30 site time, one summary per person, team view."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import InboxTask, OutboxMessage, Process, ProcessKind, Role, Site, User, UserRole
from notify.delivery import DeliveryReport, deliver_due
from notify.digest import queue_daily_digests
from rules.calendar import (
    CalendarBook,
    SiteCalendarChange,
    load_calendar_book,
    load_calendars,
    site_version,
)

AddUser = Callable[..., User]
Make = Callable[..., Settings]

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_0830 = datetime(2025, 11, 24, 8, 30, tzinfo=SHANGHAI)
TITLES = {"complaint.resolution": "Resolve the complaint"}


@dataclass(frozen=True)
class Team:
    lina: int
    wang: int
    lead: int


def add_task(
    session: Session,
    site_id: int,
    starter: int,
    subject: str,
    assignee: int | None,
    due: datetime | None,
) -> None:
    process = Process(
        kind=ProcessKind.COMPLAINT, site_id=site_id, subject=subject, started_by_id=starter
    )
    session.add(process)
    session.flush()
    session.add(
        InboxTask(
            process_id=process.id,
            flow_run_id=process.id,
            step_key=f"resolution-{subject}",
            step="complaint.resolution",
            site_id=site_id,
            assignee_id=assignee,
            candidate_role=None if assignee else Role.STAFF,
            available_from=MONDAY_0830 - timedelta(days=3),
            due_at=due,
        )
    )


@pytest.fixture
def team(session_factory: sessionmaker[Session], site_id: int, add_user: AddUser) -> Team:
    with session_factory.begin() as session:
        lina = add_user(session, site_id, "lina", email="lina@example.cn", display_name="李娜")
        wang = add_user(session, site_id, "wang", email="wang@example.cn", display_name="王强")
        lead = add_user(session, site_id, "zhang", email="zhang@example.cn", display_name="张伟")
        session.add(UserRole(user_id=lead.id, role=Role.SHIFT_LEAD))
        add_task(session, site_id, lead.id, "漏水", lina.id, MONDAY_0830 - timedelta(hours=2))
        add_task(session, site_id, lead.id, "噪音", lina.id, MONDAY_0830 + timedelta(hours=6))
        add_task(session, site_id, lead.id, "停车", lina.id, MONDAY_0830 + timedelta(days=3))
        add_task(session, site_id, lead.id, "门禁", None, MONDAY_0830 + timedelta(hours=1))
        return Team(lina.id, wang.id, lead.id)


def run(session_factory: sessionmaker[Session], settings: Settings, now: datetime) -> Any:
    with session_factory.begin() as session:
        return queue_daily_digests(
            session, now=now, settings=settings, calendars=load_calendar_book(), step_titles=TITLES
        )


def digests(session_factory: sessionmaker[Session]) -> dict[int, OutboxMessage]:
    with session_factory() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.event == "daily_digest"))
        return {row.recipient_id or 0: row for row in rows}


def test_each_person_gets_one_summary_and_the_shift_lead_the_teams(
    session_factory: sessionmaker[Session], team: Team, make_settings: Make
) -> None:
    report = run(session_factory, make_settings(), MONDAY_0830)

    assert (report.people, report.queued, report.sites_done) == (2, 2, ["HY01"])
    rows = digests(session_factory)
    assert set(rows) == {team.lina, team.lead}  # 王强 has nothing open: no message
    lina = rows[team.lina]
    assert lina.subject == "【每日待办】2025-11-24：超时 1，今日到期 1，其他 1"
    assert "已超时（1）：\n- 处理投诉：漏水（截止 2025-11-24 06:30）" in lina.body
    assert "团队" not in lina.body
    assert "https://kefu.example.cn/t/" in lina.body
    assert lina.body_html is not None and "漏水" in lina.body_html
    lead = rows[team.lead]
    assert "团队汇总：待办 4 项，其中未认领 1 项。" in lead.body
    assert "处理人 李娜" in lead.body


def test_a_second_run_the_same_day_queues_nothing(
    session_factory: sessionmaker[Session], team: Team, make_settings: Make
) -> None:
    run(session_factory, make_settings(), MONDAY_0830)

    again = run(session_factory, make_settings(), MONDAY_0830 + timedelta(hours=1))

    assert again.queued == 0
    assert len(digests(session_factory)) == 2


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (datetime(2025, 11, 22, 8, 30, tzinfo=SHANGHAI), "rest day"),  # Saturday
        (datetime(2025, 10, 1, 8, 30, tzinfo=SHANGHAI), "rest day"),  # National Day
        (MONDAY_0830 - timedelta(minutes=1), "before 08:30"),
        (MONDAY_0830 + timedelta(hours=2), "after 10:30"),  # work given since is no digest
    ],
)
def test_no_digest_on_rest_days_or_before_the_digest_time(
    session_factory: sessionmaker[Session],
    team: Team,
    make_settings: Make,
    now: datetime,
    reason: str,
) -> None:
    report = run(session_factory, make_settings(), now)

    assert report.sites_skipped == {"HY01": reason}
    assert digests(session_factory) == {}


def test_each_site_gets_its_digest_at_0830_its_own_time(
    session_factory: sessionmaker[Session],
    team: Team,
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
) -> None:
    with session_factory.begin() as session:
        kashgar = Site(code="KS01", name="喀什管理处", timezone="Asia/Urumqi")  # UTC+6
        session.add(kashgar)
        session.flush()
        ma = add_user(session, kashgar.id, "ma", email="ma@example.cn", display_name="马丽")
        add_task(session, kashgar.id, ma.id, "供暖", ma.id, MONDAY_0830 + timedelta(hours=8))
    settings = make_settings()

    beijing_morning = run(session_factory, settings, MONDAY_0830)
    assert beijing_morning.sites_done == ["HY01"]
    assert beijing_morning.sites_skipped == {"KS01": "before 08:30"}
    # 08:30 in Kashgar is 10:30 in Beijing: now the Beijing site's window has closed.
    kashgar_morning = run(session_factory, settings, MONDAY_0830 + timedelta(hours=2))
    assert kashgar_morning.sites_done == ["KS01"]
    assert set(digests(session_factory)) == {team.lina, team.lead, ma.id}


def test_a_day_the_site_itself_closes_gets_no_digest(
    session_factory: sessionmaker[Session], team: Team, make_settings: Make
) -> None:
    shared = load_calendars()
    change = SiteCalendarChange.model_validate(
        {"site_overrides": {2025: {"closures": ["2025-11-24"]}}}
    )
    closed = site_version(shared["day_shift"], "HY01", change)
    with session_factory.begin() as session:
        report = queue_daily_digests(
            session,
            now=MONDAY_0830,
            settings=make_settings(),
            calendars=CalendarBook(shared, {"HY01": {"day_shift": closed}}),
            step_titles=TITLES,
        )

    assert report.sites_skipped == {"HY01": "rest day"}
    assert digests(session_factory) == {}


def test_a_make_up_working_sunday_gets_a_digest(
    session_factory: sessionmaker[Session], team: Team, make_settings: Make
) -> None:
    # 2025-09-28 was a Sunday worked in exchange for the National Day holiday (调休).
    report = run(session_factory, make_settings(), datetime(2025, 9, 28, 9, 0, tzinfo=SHANGHAI))

    assert report.sites_done == ["HY01"]


def test_digests_arrive_by_email(
    session_factory: sessionmaker[Session],
    team: Team,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}")
    run(session_factory, settings, MONDAY_0830)

    assert deliver_due(MONDAY_0830, session_factory=session_factory, settings=settings) == (
        DeliveryReport(sent=2)
    )
    received = sink.wait_for(2)
    assert sorted(mail.rcpt_tos[0] for mail in received) == ["lina@example.cn", "zhang@example.cn"]
