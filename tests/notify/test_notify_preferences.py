"""Channels per person, quiet hours (urgent messages go at once, others wait) and burst merging."""

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import DeliveryState, NotificationPreference, OutboxMessage, User
from notify.delivery import DeliveryReport, deliver_due
from notify.outbox import enqueue
from notify.preferences import QuietHours

AddUser = Callable[..., User]
Make = Callable[..., Settings]

SHANGHAI = ZoneInfo("Asia/Shanghai")
LATE_EVENING = datetime(2025, 11, 24, 23, 0, tzinfo=SHANGHAI)  # inside 22:00–07:30
NEXT_MORNING = datetime(2025, 11, 25, 7, 30, tzinfo=SHANGHAI)
AFTERNOON = datetime(2025, 11, 24, 14, 30, tzinfo=SHANGHAI)
ASSIGNED = {"step_title": "经理审批", "process_subject": "漏水投诉", "due_at": None}
ESCALATED = {
    "step_title": "处理投诉",
    "process_subject": "漏水投诉",
    "from_name": "李娜",
    "to_name": "客服主管 王芳",
    "reason": "超过解决时限",
    "tier": 1,
    "due_at": None,
}
# The department's usual quiet hours; off unless configured.
QUIET = {"quiet_hours_start": "22:00", "quiet_hours_end": "07:30"}
RESOLVED = {"process_subject": "漏水", "unit": "3栋1201", "resolved_by": "张伟", "resolution": None}


def queue(
    session_factory: sessionmaker[Session],
    user_id: int,
    settings: Settings,
    *,
    event: str,
    context: dict[str, Any],
    key: str,
    now: datetime,
) -> None:
    with session_factory.begin() as session:
        enqueue(
            session,
            event=event,
            recipients=[session.get_one(User, user_id)],
            context=context,
            dedup_key=key,
            now=now,
            settings=settings,
        )


def rows(session_factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.fixture
def lina(session_factory: sessionmaker[Session], site_id: int, add_user: AddUser) -> int:
    with session_factory.begin() as session:
        return add_user(session, site_id, "lina", email="lina@example.cn", display_name="李娜").id


def test_a_normal_message_in_quiet_hours_waits_until_they_end(
    session_factory: sessionmaker[Session],
    lina: int,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}", **QUIET)
    queue(
        session_factory, lina, settings, event="task_assigned", context=ASSIGNED, key="a",
        now=LATE_EVENING,
    )  # fmt: skip

    [row] = rows(session_factory)
    assert row.next_attempt_at == NEXT_MORNING
    assert not row.urgent
    assert deliver_due(LATE_EVENING, session_factory=session_factory, settings=settings) == (
        DeliveryReport()
    )
    just_before = NEXT_MORNING - timedelta(minutes=1)
    assert deliver_due(just_before, session_factory=session_factory, settings=settings) == (
        DeliveryReport()
    )

    assert deliver_due(NEXT_MORNING, session_factory=session_factory, settings=settings) == (
        DeliveryReport(sent=1)
    )
    assert len(sink.wait_for(1)) == 1


def test_an_escalation_ignores_quiet_hours(
    session_factory: sessionmaker[Session],
    lina: int,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}", **QUIET)
    queue(
        session_factory, lina, settings, event="task_escalated", context=ESCALATED, key="e",
        now=LATE_EVENING,
    )  # fmt: skip

    [row] = rows(session_factory)
    assert row.urgent and row.next_attempt_at == LATE_EVENING
    assert deliver_due(LATE_EVENING, session_factory=session_factory, settings=settings) == (
        DeliveryReport(sent=1)
    )
    [mail] = sink.wait_for(1)
    assert mail.message["Subject"].startswith("【已升级】")


def test_an_urgent_case_ignores_quiet_hours(
    session_factory: sessionmaker[Session], lina: int, make_settings: Make
) -> None:
    context = {**ASSIGNED, "urgency": "urgent"}
    queue(
        session_factory, lina, make_settings(**QUIET), event="task_assigned", context=context,
        key="u",
        now=LATE_EVENING,
    )  # fmt: skip

    [row] = rows(session_factory)
    assert row.urgent and row.next_attempt_at == LATE_EVENING


def test_own_quiet_hours_replace_the_default_and_can_be_switched_off(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        night_owl = add_user(session, site_id, "owl", email="owl@example.cn")
        always = add_user(session, site_id, "always", email="always@example.cn")
        session.add_all(
            [
                NotificationPreference(
                    user_id=night_owl.id, quiet_start="01:00", quiet_end="09:00"
                ),
                NotificationPreference(user_id=always.id, quiet_hours_enabled=False),
            ]
        )
        owl_id, always_id = night_owl.id, always.id
    for user_id in (owl_id, always_id):
        queue(
            session_factory, user_id, make_settings(**QUIET), event="task_assigned",
            context=ASSIGNED, key=f"k{user_id}", now=LATE_EVENING,
        )  # fmt: skip

    by_user = {row.recipient_id: row for row in rows(session_factory)}
    assert by_user[owl_id].next_attempt_at == LATE_EVENING  # 23:00 is before their 01:00
    assert by_user[always_id].next_attempt_at == LATE_EVENING


def test_channels_follow_the_persons_choices(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    with session_factory.begin() as session:
        both = add_user(session, site_id, "both", email="both@example.cn")
        wecom_only = add_user(session, site_id, "wx", email="wx@example.cn")
        session.add_all(
            [
                NotificationPreference(user_id=both.id, wecom_userid="Both"),
                NotificationPreference(
                    user_id=wecom_only.id, wecom_userid="Wx", email_enabled=False
                ),
            ]
        )
        ids = {both.id: "both", wecom_only.id: "wx"}
        enqueue(
            session,
            event="task_assigned",
            recipients=[both, wecom_only],
            context=ASSIGNED,
            dedup_key="c",
            now=AFTERNOON,
            settings=make_settings(),
        )

    channels = sorted((ids[row.recipient_id or 0], row.channel) for row in rows(session_factory))
    assert channels == [("both", "email"), ("both", "wecom"), ("wx", "wecom")]


def test_a_burst_of_low_urgency_messages_goes_out_as_one(
    session_factory: sessionmaker[Session],
    lina: int,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}", notify_merge_window_seconds=120)
    for n in range(3):
        queue(
            session_factory, lina, settings, event="complaint_resolved",
            context={**RESOLVED, "process_subject": f"投诉{n}"}, key=f"r{n}",
            now=AFTERNOON + timedelta(seconds=30 * n),
        )  # fmt: skip
    queue(
        session_factory, lina, settings, event="task_escalated", context=ESCALATED, key="esc",
        now=AFTERNOON,
    )  # fmt: skip

    # The escalation is not held; the low-urgency ones wait for the window to collect the burst.
    assert deliver_due(AFTERNOON, session_factory=session_factory, settings=settings) == (
        DeliveryReport(sent=1)
    )
    release = AFTERNOON + timedelta(seconds=120)
    report = deliver_due(release, session_factory=session_factory, settings=settings)

    assert report == DeliveryReport(sent=1, merged=2)
    escalation, burst = sink.wait_for(2)
    assert escalation.message["Subject"].startswith("【已升级】")
    assert burst.message["Subject"] == "【通知汇总】您有 3 条新通知"
    text_part = burst.message.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert all(f"【已处理】投诉{n}" in text for n in range(3))
    lead, *merged = [row for row in rows(session_factory) if row.event == "complaint_resolved"]
    assert lead.state == DeliveryState.SENT and lead.merged_into_id is None
    assert all(row.state == DeliveryState.SENT for row in merged)
    assert [row.merged_into_id for row in merged] == [lead.id, lead.id]


@pytest.mark.parametrize(
    ("start", "end", "local", "expected"),
    [
        (time(22), time(7, 30), datetime(2025, 11, 24, 22, 0), datetime(2025, 11, 25, 7, 30)),
        (time(22), time(7, 30), datetime(2025, 11, 25, 3, 0), datetime(2025, 11, 25, 7, 30)),
        (time(22), time(7, 30), datetime(2025, 11, 25, 7, 30), None),
        (time(22), time(7, 30), datetime(2025, 11, 24, 21, 59), None),
        (time(12), time(13, 30), datetime(2025, 11, 24, 12, 15), datetime(2025, 11, 24, 13, 30)),
        (time(12), time(13, 30), datetime(2025, 11, 24, 13, 30), None),
    ],
)
def test_quiet_hours_release_time(
    start: time, end: time, local: datetime, expected: datetime | None
) -> None:
    quiet = QuietHours(start, end, SHANGHAI)

    released = quiet.release_at(local.replace(tzinfo=SHANGHAI).astimezone(UTC))

    assert released == (expected.replace(tzinfo=SHANGHAI) if expected else None)


def test_quiet_hours_are_off_unless_configured(
    session_factory: sessionmaker[Session], lina: int, make_settings: Make
) -> None:
    queue(
        session_factory, lina, make_settings(), event="task_assigned", context=ASSIGNED, key="n",
        now=LATE_EVENING,
    )  # fmt: skip

    [row] = rows(session_factory)
    assert row.next_attempt_at == LATE_EVENING


def test_without_a_merge_window_each_message_goes_out_on_its_own(
    session_factory: sessionmaker[Session],
    lina: int,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    settings = make_settings(smtp_url=f"mailto://127.0.0.1:{port}")
    for n in range(2):
        queue(
            session_factory, lina, settings, event="complaint_resolved",
            context={**RESOLVED, "process_subject": f"投诉{n}"}, key=f"r{n}", now=AFTERNOON,
        )  # fmt: skip

    report = deliver_due(AFTERNOON, session_factory=session_factory, settings=settings)

    assert report == DeliveryReport(sent=2)
    subjects = sorted(mail.message["Subject"] for mail in sink.wait_for(2))
    assert subjects == ["【已处理】投诉0", "【已处理】投诉1"]
