"""The resignation process end to end: real Prefect server, served runner, driven via the REST API.

The leaver and the successor are people of this test (the demo people are shared by every
end-to-end test, and this one disables an account).
"""

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from db.base import utcnow
from db.models import InboxTask, OutboxMessage, Resignation, User
from db.session import transaction
from domain.resignation import offboard_due_leavers, rehome_late_work
from launch.demo import DEMO_PASSWORD
from launch.embedded import ApiClient, Stack, eventually
from rules.resignation import follow_up_opens_at, load_policy, policy_calendar
from tests.flows.test_complaint import new_complaint
from tests.support.factories import new_staff

pytestmark = pytest.mark.e2e

# Far enough ahead that no sweep offboards the leaver while the test runs.
NOTICE_DAYS = 5


def resignation_view(client: ApiClient, process_id: str) -> dict[str, Any]:
    result = client.ok("GET", f"/resignations/{process_id}")
    assert isinstance(result, dict)
    return result


def test_resignation_hands_everything_over_and_closes_the_account(stack: Stack) -> None:
    marker = uuid.uuid4().hex[:6]
    leaver_id, leaver_username = new_staff(f"离职{marker}")
    successor_id, successor_username = new_staff(f"接替{marker}")
    leaver = stack.login(leaver_username)
    successor = stack.login(successor_username)
    supervisor = stack.login("zhaolei")

    # The leaver holds a resident's complaint (首问负责) with an open task.
    complaint_id = new_complaint(leaver)
    leaver.open_task(complaint_id, "complaint.first-response")

    last_day = (utcnow() + timedelta(days=NOTICE_DAYS)).date()
    created = leaver.ok(
        "POST",
        "/resignations",
        json={"last_working_day": last_day.isoformat(), "reason": "回老家发展"},
    )
    process_id = created["process_id"]
    assert created["state"] in ("starting", "running")  # starting: Prefect slow to answer

    # 1. The supervisor approves the handover plan.
    with transaction() as session:
        supervisor_id = session.scalars(select(User.id).where(User.username == "zhaolei")).one()
    approval = supervisor.open_task(process_id, "resignation.approve-plan", scope="queue")
    assert approval["title"] == "审批交接计划"
    today = utcnow().date()
    supervisor.complete(
        approval["id"],
        {
            "successor_id": successor_id,
            "supervisor_id": supervisor_id,
            "handover_starts_on": today.isoformat(),
            "handover_ends_on": last_day.isoformat(),
        },
    )

    # The complaint and its open task now belong to the successor; the history keeps the leaver.
    moved = successor.open_task(complaint_id, "complaint.first-response")
    assert moved["assignee_id"] == moved["owner_of_record_id"] == successor_id
    complaint = successor.ok("GET", f"/processes/{complaint_id}")
    assert complaint["details"]["owner_of_record_id"] == successor_id
    assert complaint["details"]["first_responder_id"] == leaver_id
    changes = [e for e in complaint["events"] if e["kind"] == "owner_of_record_changed"]
    assert [(c["data"]["from_name"], c["data"]["to_name"]) for c in changes] == [
        (f"离职{marker}", f"接替{marker}")
    ]
    # The case goes on with the successor as its owner. (The complaint flow still routes its
    # next step by the owner it read before the handover; the sweep moves such late work on.)
    successor.complete(moved["id"], {"response_note": "已接手，电话联系业主"})

    def resolution_opened() -> bool:
        with transaction() as session:
            return bool(
                session.scalar(
                    select(InboxTask.id).where(
                        InboxTask.process_id == complaint_id,
                        InboxTask.step == "complaint.resolution",
                    )
                )
            )

    eventually(resolution_opened, "the complaint's resolution step")
    with transaction() as session:
        rehome_late_work(session, utcnow())
    resolution = successor.open_task(complaint_id, "complaint.resolution")
    assert resolution["assignee_id"] == resolution["owner_of_record_id"] == successor_id

    # 2. The leaver's inventory generates the checklist.
    inventory = leaver.open_task(process_id, "resignation.inventory")
    leaver.complete(
        inventory["id"],
        {
            "items": [
                {"category": "keys", "description": "前台钥匙 3 把", "location": "前台抽屉"},
                {"category": "work_in_progress", "description": "3-1201 噪音投诉跟进"},
                {"category": "resident_contacts", "description": "重点业主联系表"},
            ],
            "sessions": [
                {"topic": "投诉升级流程", "format": "face_to_face", "scheduled_on": str(today)}
            ],
        },
    )

    # 3. The successor accepts two items and disputes one; the supervisor resolves it.
    confirm = successor.open_task(process_id, "resignation.confirm-items")
    keys, work, contacts = (item["item_id"] for item in confirm["context"]["items"])
    # A round names every listed item once: an unknown or a missing item is refused, by name.
    unknown = successor.post(
        f"/tasks/{confirm['id']}/complete",
        json={"verdicts": [{"item_id": i, "verdict": "accept"} for i in (keys, work, contacts, 0)]},
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["fields"][0]["message"] == "逐项确认: 清单项 #0 不在本轮清单中"
    missing = successor.post(
        f"/tasks/{confirm['id']}/complete",
        json={"verdicts": [{"item_id": i, "verdict": "accept"} for i in (keys, work)]},
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["message"].endswith(f"#{contacts} 重点业主联系表")
    successor.complete(
        confirm["id"],
        {
            "verdicts": [
                {"item_id": keys, "verdict": "accept"},
                {"item_id": work, "verdict": "accept"},
                {"item_id": contacts, "verdict": "dispute", "reason": "缺少 D 栋业主电话"},
            ]
        },
    )
    dispute = supervisor.open_task(process_id, "resignation.resolve-disputes")
    assert [i["dispute_reason"] for i in dispute["context"]["items"]] == ["缺少 D 栋业主电话"]
    progress = supervisor.ok("GET", f"/resignations/{process_id}/progress")
    assert progress == {"total": 3, "confirmed": 2, "pending": 0, "disputed": 1, "percent": 66}
    supervisor.complete(
        dispute["id"],
        {
            "resolutions": [
                {"item_id": contacts, "outcome": "resolved", "resolution": "已补齐 D 栋电话"}
            ]
        },
    )

    # 4. Knowledge transfer: the leaver gives the session and writes the procedure down.
    held = leaver.open_task(process_id, "resignation.hold-session")
    view = resignation_view(supervisor, process_id)
    assert view["state"] == "handed_over" and view["progress"]["percent"] == 100
    leaver.complete(
        held["id"],
        {
            "summary": "讲解投诉升级的三级流程",
            "kb_articles": [
                {
                    "title": f"投诉升级流程 {marker}",
                    "body": "首问负责；超时升级到班长，再到主管。",
                    "tags": ["投诉", "流程"],
                }
            ],
        },
    )
    attended = successor.open_task(process_id, "resignation.confirm-session")
    successor.complete(attended["id"], {"outcome": "confirmed"})

    # Everyone can find the procedure in the knowledge base.
    colleague = stack.login("wangqiang")
    found = colleague.ok("GET", "/knowledge", params={"q": marker, "tag": "流程"})
    assert [a["author_name"] for a in found] == [f"离职{marker}"]
    assert colleague.ok("GET", f"/knowledge/{found[0]['id']}")["body"].startswith("首问负责")

    # 5. The follow-up evaluation waits for the right working day.
    calendar = policy_calendar(load_policy())
    opens_at = follow_up_opens_at(calendar, last_day, load_policy().follow_up_days)
    opens_on = opens_at.astimezone(calendar.zone).date()
    assert calendar.is_working_day(opens_on) and opens_on >= last_day + timedelta(days=30)
    assert not any(
        calendar.is_working_day(last_day + timedelta(days=30 + n))
        for n in range((opens_on - last_day).days - 30)
    )

    def follow_up_task() -> InboxTask | None:
        with transaction() as session:
            return session.scalar(
                select(InboxTask).where(
                    InboxTask.process_id == process_id,
                    InboxTask.step == "resignation.follow-up-evaluation",
                )
            )

    evaluation_row = eventually(follow_up_task, "the follow-up evaluation task")
    assert evaluation_row.available_from == opens_at
    assert evaluation_row.assignee_id == supervisor_id
    mine = supervisor.ok("GET", "/tasks", params={"scope": "mine"})
    assert evaluation_row.id not in [t["id"] for t in mine]

    # 6. The last working day ends: the account closes, and the leaver can neither log in nor act.
    with transaction() as session:
        offboard_at = session.get_one(Resignation, process_id).offboard_at
        assert process_id in offboard_due_leavers(session, offboard_at)
    assert leaver.get("/tasks").status_code == httpx.codes.UNAUTHORIZED
    assert leaver.get(f"/resignations/{process_id}").status_code == httpx.codes.UNAUTHORIZED
    login = leaver.http.post(
        "/api/v1/auth/token", data={"username": leaver_username, "password": DEMO_PASSWORD}
    )
    assert login.status_code == httpx.codes.UNAUTHORIZED
    assert resignation_view(supervisor, process_id)["leaver"]["active"] is False

    try:
        stack.clock = lambda: opens_at + timedelta(minutes=1)
        # A month later: yesterday's token has expired, so the supervisor logs in again.
        supervisor = stack.login("zhaolei")
        evaluation = supervisor.open_task(process_id, "resignation.follow-up-evaluation")
        supervisor.complete(
            evaluation["id"],
            {
                "handover_effect": "good",
                "problems_found": "D 栋业主电话曾缺失，已补齐",
                "successor_assessment": "competent",
            },
        )
    finally:
        stack.clock = utcnow

    # Both states change in one commit, but a request on PostgreSQL (READ COMMITTED) may read
    # the resignation just before it and the process just after: wait for both.
    closed = eventually(
        lambda: (
            (v := resignation_view(supervisor, process_id))["process_state"] == "closed"
            and v["state"] == "closed"
            and v
        ),
        "the resignation to close",
    )
    assert closed["evaluation"]["successor_assessment"] == "competent"
    assert closed["sessions"][0]["state"] == "confirmed" and closed["sessions"][0]["kb_article_ids"]

    # Every step told the people concerned; a replay queued nothing twice.
    with transaction() as session:
        messages = session.scalars(
            select(OutboxMessage).where(OutboxMessage.process_id == process_id)
        ).all()
        hr_id = session.scalars(select(User.id).where(User.username == "sunli")).one()
        tasks = session.scalars(select(InboxTask).where(InboxTask.process_id == process_id)).all()
    assert len({m.dedup_key for m in messages}) == len(messages)
    assert len({t.step_key for t in tasks}) == len(tasks) == 7
    told = {(m.event, m.recipient_id) for m in messages}
    for event in ("resignation_recorded", "handover_plan_approved", "handover_completed"):
        assert {(event, p) for p in (leaver_id, supervisor_id, hr_id)} <= told, event
    for event in ("handover_plan_approved", "handover_work_moved", "handover_completed"):
        assert (event, successor_id) in told, event
    assert {("leaver_offboarded", p) for p in (successor_id, supervisor_id, hr_id)} <= told
    assert {("resignation_closed", p) for p in (successor_id, supervisor_id, hr_id)} <= told
    assert ("resignation_closed", leaver_id) not in told  # the account is closed
    assert date.fromisoformat(closed["last_working_day"]) == last_day
