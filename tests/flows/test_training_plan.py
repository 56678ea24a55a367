"""The training plan end to end: real Prefect server, served runner, driven via the REST API.

Each test uses its own plan period (one plan per site, kind and period), well ahead of today so
that the minute sweep of the running stack does not escalate the tasks while a test runs.
"""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.base import utcnow
from db.models import Event, InboxTask, OutboxMessage, TaskState
from db.session import transaction
from domain.sla import apply_clock
from flows.catalog import STEPS
from launch.embedded import ApiClient, Stack, eventually
from notify.delivery import deliver_due
from rules.training_plan import (
    PlanKind,
    PlanPeriod,
    assessment_window,
    load_policy,
    plan_deadlines,
    plan_period,
    policy_calendar,
)
from tests.support.factories import user_id

pytestmark = pytest.mark.e2e

POLICY = load_policy()
CALENDAR = policy_calendar(POLICY)


def month_ahead(months: int) -> tuple[int, int]:
    """Return (year, month) `months` after the current month."""
    today = utcnow().date()
    index = today.year * 12 + today.month - 1 + months
    return index // 12, index % 12 + 1


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=CALENDAR.zone)


def plan_document(
    sessions: list[datetime], attendees: list[int], trainer: int, **overrides: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "title": "客服部月度培训计划",
        "compliance_confirmed": True,
        "items": [
            {
                "topic": "投诉处理与升级流程",
                "attendee_ids": attendees,
                "trainer_id": trainer,
                "method": "lecture",
                "hours": 1.5,
                "venue": "二楼会议室",
                "sessions": [{"starts_at": at.isoformat()} for at in sessions],
                "assessment_criteria": "笔试与实操各 60 分及格",
            }
        ],
        "budget": [{"category": "materials", "description": "讲义印刷", "amount": "150.00"}],
    }
    document.update(overrides)
    return document


def held(
    trainer: ApiClient, record: dict[str, Any], attendance: dict[int, str], summary: str
) -> None:
    """The trainer records a session as held, with each attendee's status."""
    trainer.complete(
        record["id"],
        {
            "held": True,
            "attendance": [{"employee_id": e, "status": s} for e, s in attendance.items()],
            "summary": summary,
        },
    )


def assessed(
    stack: Stack, process_id: str, period: PlanPeriod, scores: dict[int, tuple[int, int]]
) -> ApiClient:
    """On the day the assessment opens, the supervisor scores it (written, practical) within
    its window; return the supervisor, logged in on that day."""
    opens_on, due_on = assessment_window(POLICY, CALENDAR, period)
    stack.clock = lambda: local(opens_on, time(10, 0)).astimezone(UTC)
    supervisor = stack.login("zhaolei")
    assess = supervisor.open_task(process_id, "training_plan.assess")
    assert datetime.fromisoformat(assess["due_at"]) == CALENDAR.end_of_service(due_on)
    supervisor.complete(
        assess["id"],
        {
            "assessed_on": opens_on.isoformat(),
            "scores": [
                {"employee_id": e, "written": w, "practical": p} for e, (w, p) in scores.items()
            ],
        },
    )
    return supervisor


def start(client: ApiClient, kind: str, year: int, month: int | None = None) -> str:
    created = client.ok(
        "POST", "/training-plans", json={"kind": kind, "year": year, "month": month}
    )
    assert created["state"] in ("starting", "running")  # starting: Prefect slow to answer
    return str(created["process_id"])


@pytest.fixture
def clock(stack: Stack) -> Iterator[Stack]:
    """The stack, with its inbox clock restored after the test."""
    yield stack
    stack.clock = utcnow


def test_plan_rejected_twice_approved_held_in_any_order_assessed_and_revised(
    clock: Stack, mail_sink: Any
) -> None:
    stack = clock
    supervisor, manager = stack.login("zhaolei"), stack.login("chenjing")
    zhangmin, wangqiang, lihua = user_id("zhangmin"), user_id("wangqiang"), user_id("lihua")
    year, month = month_ahead(2)
    period = plan_period(PlanKind.MONTHLY, year, month)
    session_at = local(CALENDAR.nth_working_day(period.starts_on, 1), time(14, 0))
    later_at = local(CALENDAR.nth_working_day(period.starts_on, 3), time(10, 0))
    sessions = [session_at, later_at]
    process_id = start(supervisor, "monthly", year, month)

    # 1. Draft, submitted through the plan API; the manager rejects it with a reason.
    supervisor.open_task(process_id, "training_plan.draft")
    first = plan_document(sessions, [zhangmin], lihua)
    supervisor.ok("POST", f"/training-plans/{process_id}/submit", json=first)
    approval = manager.open_task(process_id, "training_plan.approve")
    assert approval["title"] == "审批培训计划"
    assert approval["context"]["version"] == 1 and approval["context"]["changes"] == []
    manager.complete(approval["id"], {"outcome": "reject", "reason": "参训范围漏了王强"})

    # 2. The drafter sees the reason and revises (here through the generic inbox).
    revise = supervisor.open_task(process_id, "training_plan.revise")
    assert revise["context"]["reason"] == "参训范围漏了王强"
    second = plan_document(sessions, [zhangmin, wangqiang], lihua)
    supervisor.complete(revise["id"], second)
    approval = manager.open_task(process_id, "training_plan.approve")
    # The manager sees what changed since the last version.
    assert approval["context"]["changes"] == [
        {"path": "items.0.attendee_ids.1", "before": None, "after": wangqiang}
    ]
    manager.complete(approval["id"], {"outcome": "reject", "reason": "预算请列明讲师费"})

    # 3. Revised again, then approved.
    revise = supervisor.open_task(process_id, "training_plan.revise")
    assert revise["context"]["reason"] == "预算请列明讲师费"
    third = plan_document(
        sessions,
        [zhangmin, wangqiang],
        lihua,
        budget=[
            {"category": "materials", "description": "讲义印刷", "amount": "150.00"},
            {"category": "trainer", "description": "内部讲师课时费", "amount": "300.00"},
        ],
    )
    supervisor.ok("POST", f"/training-plans/{process_id}/submit", json=third)
    approval = manager.open_task(process_id, "training_plan.approve")
    manager.complete(approval["id"], {"outcome": "approve", "reason": "同意"})

    plan = eventually(
        lambda: (
            (p := supervisor.ok("GET", f"/training-plans/{process_id}"))["state"] == "announced"
            and p
        ),
        "the plan to be announced",
    )
    assert [v["number"] for v in plan["versions"]] == [1, 2, 3]
    assert [(d["version"], d["outcome"], d["reason"]) for d in plan["decisions"]] == [
        (1, "rejected", "参训范围漏了王强"),
        (2, "rejected", "预算请列明讲师费"),
        (3, "approved", "同意"),
    ]
    diff = manager.ok("GET", f"/training-plans/{process_id}/diff", params={"from": 2, "to": 3})
    assert [c["path"] for c in diff["changes"]] == ["budget.1"]

    # 4. The sessions: each record opens at its session's start, all at once; the trainer
    #    records the later session first and the flow waits for nobody's lateness.
    # (Tokens expire on the inbox's clock: log in again after moving it.)
    stack.clock = lambda: later_at.astimezone(UTC) + timedelta(hours=2)
    trainer = stack.login("lihua")

    def record_tasks() -> dict[datetime, dict[str, Any]] | None:
        tasks = trainer.ok("GET", "/tasks", params={"scope": "mine"})
        found = {
            datetime.fromisoformat(t["context"]["starts_at"]): t
            for t in tasks
            if t["process_id"] == process_id and t["step"] == "training_plan.record-session"
        }
        return found if len(found) == 2 else None

    records = eventually(record_tasks, "both session records in the trainer's inbox")
    assert [a["id"] for a in records[session_at]["context"]["attendees"]] == [zhangmin, wangqiang]
    held(trainer, records[later_at], {zhangmin: "present", wangqiang: "present"}, "升级演练复盘")
    held(trainer, records[session_at], {zhangmin: "present", wangqiang: "unexcused"}, "分级演练")

    # 5. The assessment opens on the first working day after the month, due by the 5th.
    supervisor = assessed(stack, process_id, period, {zhangmin: (85, 90), wangqiang: (50, 55)})
    analyse = supervisor.open_task(process_id, "training_plan.analyse")
    assert analyse["context"] == {"period": period.label, "passed": 1, "failed": 1}
    supervisor.complete(
        analyse["id"],
        {
            "findings": "王强缺勤且未通过，安排补训",
            "revise_plan": True,
            "revision_reason": "为王强增加一场补训",
        },
    )

    # 6. The analysis asked for a revision: drafted again, approved again, announced again.
    revise = supervisor.open_task(process_id, "training_plan.revise")
    fourth = plan_document(
        [*sessions, local(CALENDAR.nth_working_day(period.starts_on, 5), time(14, 0))],
        [zhangmin, wangqiang],
        lihua,
        budget=third["budget"],
    )
    supervisor.complete(revise["id"], fourth)
    manager = stack.login("chenjing")
    approval = manager.open_task(process_id, "training_plan.approve")
    assert approval["context"]["version"] == 4
    assert [c["path"] for c in approval["context"]["changes"]] == ["items.0.sessions.2"]
    manager.complete(approval["id"], {"outcome": "approve", "reason": "同意补训"})

    plan = eventually(
        lambda: (
            (p := supervisor.ok("GET", f"/training-plans/{process_id}"))["state"] == "closed" and p
        ),
        "the plan to close",
    )
    assert plan["process_state"] == "closed"
    assert plan["approved_version"] == 4
    attendance = {datetime.fromisoformat(s["starts_at"]): s["attendance"] for s in plan["sessions"]}
    assert attendance[session_at] == {
        str(zhangmin): "present",
        str(wangqiang): "unexcused",
    }
    assert attendance[later_at] == {
        str(zhangmin): "present",
        str(wangqiang): "present",
    }

    # The training record, per employee, as CSV.
    response = stack.login("sunli").get(
        "/training-plans/records.csv", params={"employee_id": wangqiang}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert sorted((r[3], r[7], r[8], r[10]) for r in rows[1:] if plan["subject"] in r[2]) == [
        ("assessment", "assessed", "50", "no"),
        ("投诉处理与升级流程", "present", "", ""),
        ("投诉处理与升级流程", "unexcused", "", ""),
    ]
    own = stack.login("wangqiang").get("/training-plans/records", params={"employee_id": zhangmin})
    assert own.status_code == 403

    # Every notification: two rejections and two approvals to the drafter, each announcement
    # to each attendee and the trainer, the closing.
    with transaction() as session:
        sent = session.execute(
            select(OutboxMessage.event, OutboxMessage.recipient_id).where(
                OutboxMessage.process_id == process_id, OutboxMessage.channel == "email"
            )
        ).all()
    zhaolei, chenjing = user_id("zhaolei"), user_id("chenjing")
    by_event: dict[str, list[int]] = {}
    for event, recipient in sent:
        by_event.setdefault(event, []).append(recipient)
    assert sorted(by_event["training_plan_rejected"]) == [zhaolei, zhaolei]
    assert sorted(by_event["training_plan_approved"]) == sorted([zhaolei, chenjing] * 2)
    assert sorted(by_event["training_plan_announced"]) == sorted([zhangmin, wangqiang, lihua] * 2)
    assert sorted(by_event["training_plan_closed"]) == sorted([zhaolei, chenjing])
    assert by_event["task_assigned"].count(chenjing) == 4  # four approval rounds

    deliver_due()
    subject = plan["subject"]
    drafter_mail = [
        str(m["Subject"])
        for m in mail_sink.received("zhaolei@demo.kefu.local")
        if subject in str(m["Subject"])
    ]
    assert drafter_mail.count(f"【培训计划驳回】{subject}（第 1 版）") == 1
    assert drafter_mail.count(f"【培训计划驳回】{subject}（第 2 版）") == 1
    assert f"【培训计划已批准】{subject}（第 3 版）" in drafter_mail
    assert any(
        str(m["Subject"]) == f"【培训通知】{subject}：您有 2 场培训"
        for m in mail_sink.received("zhangmin@demo.kefu.local")
    )

    # Replays after every resume created nothing twice.
    with transaction() as session:
        keys = list(
            session.scalars(select(InboxTask.step_key).where(InboxTask.process_id == process_id))
        )
    assert len(keys) == len(set(keys)) == 12


def test_monthly_plan_for_february_deadline_missed_and_escalated_and_refused_submission(
    stack: Stack,
) -> None:
    """A plan for February: its deadlines; an incomplete plan refused; the late draft escalated."""
    supervisor = stack.login("zhaolei")
    # Next February, unless the other test's plan (two months ahead) is that one, as in December.
    year = next(y for y in (utcnow().year + 1, utcnow().year + 2) if (y, 2) != month_ahead(2))
    period = plan_period(PlanKind.MONTHLY, year, 2)
    process_id = start(supervisor, "monthly", year, 2)

    plan = supervisor.ok("GET", f"/training-plans/{process_id}")
    expected = plan_deadlines(POLICY, CALENDAR, period)
    # Drafted by January 25 and approved by January 30, each on a working day (or before).
    assert date.fromisoformat(plan["draft_due_on"]) == expected.draft_due_on
    assert date.fromisoformat(plan["approval_due_on"]) == expected.approval_due_on
    assert expected.draft_due_on <= date(year, 1, 25) and expected.approval_due_on <= date(
        year, 1, 30
    )
    assert CALENDAR.is_working_day(expected.draft_due_on)
    assert CALENDAR.is_working_day(expected.approval_due_on)

    draft = supervisor.open_task(process_id, "training_plan.draft")
    assert datetime.fromisoformat(draft["due_at"]) == CALENDAR.end_of_service(expected.draft_due_on)

    # An incomplete plan is refused, naming every problem at its field.
    response = supervisor.post(
        f"/training-plans/{process_id}/submit",
        json={
            "compliance_confirmed": False,
            "items": [
                {
                    "topic": "消防安全",
                    "trainer_id": user_id("lihua"),
                    "method": "drill",
                    "hours": 2,
                    "assessment_criteria": "",
                    "sessions": [{}, {"starts_at": f"{year}-03-02T09:00:00+08:00"}],
                }
            ],
            "budget": [{"category": "venue", "description": "消防训练场"}],
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    fields = {f["field"]: f["message"] for f in response.json()["error"]["fields"]}
    assert set(fields) == {
        "compliance_confirmed",
        "items.0.attendee_ids",
        "items.0.assessment_criteria",
        "items.0.sessions.0.starts_at",
        "items.0.sessions.1.starts_at",
        "budget.0.amount",
    }
    assert fields["items.0.sessions.0.starts_at"].endswith("A session needs a date and a time")
    assert "outside the plan's period" in fields["items.0.sessions.1.starts_at"]
    assert fields["budget.0.amount"].endswith("A budget line needs an amount")
    # Nothing was submitted: the draft task is still open.
    assert supervisor.ok("GET", f"/tasks/{draft['id']}")["state"] == "open"

    # The draft deadline passes: warned before, then escalated to the site manager.
    due_at = CALENDAR.end_of_service(expected.draft_due_on)
    with transaction() as session:
        warned = apply_clock(session, draft["id"], due_at - timedelta(hours=3), STEPS)
    with transaction() as session:
        escalated = apply_clock(session, draft["id"], due_at + timedelta(minutes=1), STEPS)
    assert warned == ["warned"] and escalated == ["escalated:site_manager"]
    zhaolei, chenjing = user_id("zhaolei"), user_id("chenjing")
    with transaction() as session:
        task = session.get_one(InboxTask, draft["id"])
        assert (task.state, task.candidate_role, task.tier) == (
            TaskState.OPEN,
            "site_manager",
            "site_manager",
        )
        # The drafter stays on it as owner of record.
        assert task.owner_of_record_id == zhaolei
        kinds = set(session.scalars(select(Event.kind).where(Event.task_id == draft["id"])))
        told = set(
            session.scalars(
                select(OutboxMessage.recipient_id).where(
                    OutboxMessage.task_id == draft["id"],
                    OutboxMessage.event == "task_escalated",
                )
            )
        )
    assert {"sla_warning", "task_escalated"} <= kinds
    assert {zhaolei, chenjing} <= told
    # The site manager now sees it in the queue.
    escalated_task = stack.login("chenjing").open_task(
        process_id, "training_plan.draft", scope="queue"
    )
    assert escalated_task["id"] == draft["id"]


def test_annual_plan_drafted_approved_announced_held_and_assessed_after_its_year(
    clock: Stack,
) -> None:
    stack = clock
    supervisor, manager = stack.login("zhaolei"), stack.login("chenjing")
    zhangmin, lihua = user_id("zhangmin"), user_id("lihua")
    # Two years ahead: next year's plan may already have been opened by the scheduled kickoff.
    year = utcnow().year + 2
    period = plan_period(PlanKind.ANNUAL, year)
    expected = plan_deadlines(POLICY, CALENDAR, period)
    # Drafted by December 10 and approved by December 20 of the year before, on working days.
    assert expected.draft_due_on <= date(year - 1, 12, 10)
    assert expected.approval_due_on <= date(year - 1, 12, 20)
    assert CALENDAR.is_working_day(expected.draft_due_on)
    assert CALENDAR.is_working_day(expected.approval_due_on)
    session_at = local(CALENDAR.nth_working_day(date(year, 3, 1), 1), time(14, 0))
    process_id = start(supervisor, "annual", year)

    draft = supervisor.open_task(process_id, "training_plan.draft")
    assert datetime.fromisoformat(draft["due_at"]) == CALENDAR.end_of_service(expected.draft_due_on)
    supervisor.complete(
        draft["id"], plan_document([session_at], [zhangmin], lihua, title="客服部年度培训计划")
    )
    approval = manager.open_task(process_id, "training_plan.approve")
    assert datetime.fromisoformat(approval["due_at"]) == CALENDAR.end_of_service(
        expected.approval_due_on
    )
    manager.complete(approval["id"], {"outcome": "approve", "reason": "同意年度计划"})
    eventually(
        lambda: supervisor.ok("GET", f"/training-plans/{process_id}")["state"] == "announced",
        "the annual plan to be announced",
    )

    stack.clock = lambda: session_at.astimezone(UTC) + timedelta(hours=2)
    trainer = stack.login("lihua")
    record = trainer.open_task(process_id, "training_plan.record-session")
    held(trainer, record, {zhangmin: "present"}, "年度消防演练")

    # The assessment follows the plan's year, within its first working days.
    opens_on, _due_on = assessment_window(POLICY, CALENDAR, period)
    assert opens_on > period.ends_on and CALENDAR.is_working_day(opens_on)
    supervisor = assessed(stack, process_id, period, {zhangmin: (80, 85)})
    analyse = supervisor.open_task(process_id, "training_plan.analyse")
    assert analyse["context"] == {"period": period.label, "passed": 1, "failed": 0}
    supervisor.complete(analyse["id"], {"findings": "全年培训达标"})

    plan = eventually(
        lambda: (
            (p := supervisor.ok("GET", f"/training-plans/{process_id}"))["state"] == "closed" and p
        ),
        "the annual plan to close",
    )
    assert plan["kind"] == "annual" and plan["approved_version"] == 1
