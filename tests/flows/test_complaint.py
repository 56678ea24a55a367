"""The complaint process end to end: real Prefect server, served runner, driven via the REST API."""

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from db.models import DeliveryState, InboxTask, OutboxMessage, User
from db.session import transaction
from launch.embedded import ApiClient, Stack, eventually
from notify.delivery import deliver_due

pytestmark = pytest.mark.e2e


def new_complaint(staff: ApiClient, **overrides: Any) -> str:
    """File a complaint as `staff` and return its process id."""
    intake = {
        "resident_name": "王先生",
        "unit": f"3-1-{uuid.uuid4().hex[:4]}",
        "contact_phone": "13800138000",
        "channel": "phone",
        "category": "noise",
        "urgency": "urgent",
        "description": "楼上深夜装修，噪音很大",
        **overrides,
    }
    created = staff.ok("POST", "/complaints", json=intake)
    assert created["state"] in ("starting", "running")  # starting: Prefect slow to answer
    return str(created["process_id"])


def skipped_subjects(process_id: str, username: str) -> list[str]:
    """Return the subjects of the emails to `username` about the case that were skipped."""
    with transaction() as session:
        return list(
            session.scalars(
                select(OutboxMessage.subject)
                .join(User, User.id == OutboxMessage.recipient_id)
                .where(
                    OutboxMessage.process_id == process_id,
                    OutboxMessage.channel == "email",
                    OutboxMessage.state == DeliveryState.SKIPPED,
                    User.username == username,
                )
            )
        )


def test_complaint_reopened_by_poor_rating_then_closed(stack: Stack, mail_sink) -> None:
    staff = stack.login("zhangmin")
    engineer = stack.login("liugong")
    process_id = new_complaint(staff)

    first = staff.open_task(process_id, "complaint.first-response")
    assert first["title"] == "回复住户"
    staff.complete(first["id"], {"response_note": "已电话联系王先生，今晚处理"})

    resolution = staff.open_task(process_id, "complaint.resolution")
    staff.complete(
        resolution["id"],
        {"outcome": "dispatch", "summary": "请工程部检查施工时间", "department": "engineering"},
    )
    work = engineer.open_task(process_id, "complaint.department-work", scope="queue")
    engineer.ok("POST", f"/tasks/{work['id']}/claim")
    engineer.complete(work["id"], {"work_done": "已要求施工方晚上停工"})

    resolution = staff.open_task(process_id, "complaint.resolution")
    staff.complete(resolution["id"], {"outcome": "resolved", "summary": "施工已停止"})
    visit = staff.open_task(process_id, "complaint.return-visit")
    staff.complete(visit["id"], {"satisfaction": 1, "comment": "第二天又开始了"})

    # Reopened: back to resolution, same owner of record.
    resolution = staff.open_task(process_id, "complaint.resolution")
    assert resolution["step_key"] == "resolution-2-1"
    assert resolution["owner_of_record_id"] == first["owner_of_record_id"]
    staff.complete(resolution["id"], {"outcome": "resolved", "summary": "与施工方签订承诺书"})
    visit = staff.open_task(process_id, "complaint.return-visit")
    staff.complete(visit["id"], {"satisfaction": 5, "comment": "满意"})

    process = eventually(
        lambda: (p := staff.ok("GET", f"/processes/{process_id}"))["state"] == "closed" and p,
        "the complaint to close",
    )
    kinds = [e["kind"] for e in process["events"]]
    for expected in (
        "complaint_received",
        "complaint_responded",
        "complaint_dispatched",
        "complaint_resolved",
        "complaint_reopened",
        "complaint_closed",
    ):
        assert expected in kinds
    completions = [e for e in process["events"] if e["kind"] == "task_completed"]
    assert [e["actor_name"] for e in completions] == [
        "张敏",
        "张敏",
        "刘工",
        "张敏",
        "张敏",
        "张敏",
        "张敏",
    ]
    assert all(e["at"] for e in process["events"])
    transitions = [e for e in process["events"] if e["kind"].startswith("complaint_")]
    # Every transition names the person whose step caused it.
    assert [(e["kind"], e["actor_name"]) for e in transitions] == [
        ("complaint_received", "张敏"),
        ("complaint_responded", "张敏"),
        ("complaint_dispatched", "张敏"),
        ("complaint_resolved", "张敏"),
        ("complaint_reopened", "张敏"),
        ("complaint_resolved", "张敏"),
        ("complaint_closed", "张敏"),
    ]
    assert process["details"]["satisfaction"] == 5
    assert process["details"]["reopen_count"] == 1
    assert process["open_tasks"] == []

    # Replays after every resume created nothing twice.
    with transaction() as session:
        tasks = session.query(InboxTask).filter_by(process_id=process_id).all()
        keys = [t.step_key for t in tasks]
        assert len(keys) == len(set(keys)) == 7
        messages = session.query(OutboxMessage).filter_by(process_id=process_id).all()
        assert len({m.dedup_key for m in messages}) == len(messages)

    deliver_due()
    subject = process["subject"]
    expected = [
        f"【待办】回复住户：{subject}",
        f"【待办】处理投诉：{subject}",
        f"【待办】处理投诉：{subject}",
        f"【已处理】{subject}",
        f"【待办】回访：{subject}",
        f"【重新打开】{subject}",
        f"【待办】处理投诉：{subject}",
        f"【已处理】{subject}",
        f"【待办】回访：{subject}",
        f"【已结案】{subject}",
    ]

    # A 【待办】 whose task was done before a sender picked it up is skipped, not sent; whether
    # the scheduled sender got to one first is a race, so the skipped ones are read back.
    skipped = skipped_subjects(process_id, "zhangmin")
    assert all(s.startswith("【待办】") for s in skipped)
    for s in skipped:
        expected.remove(s)

    def mine() -> list[str] | None:
        received = [str(m["Subject"]) for m in mail_sink.received("zhangmin@demo.kefu.local")]
        arrived = [s for s in received if subject in s]
        return arrived if len(arrived) >= len(expected) else None

    # The scheduled sender may have taken some rows first; wait for its mail to land. Two
    # senders may interleave, so the order of arrival is not the order of the steps.
    assert sorted(eventually(mine, "every email of the case")) == sorted(expected)

    # The shift lead hears of the reopen; the engineer of the work in their queue.
    def about_case(address: str) -> list[str] | None:
        arrived = [str(m["Subject"]) for m in mail_sink.received(address)]
        return [s for s in arrived if subject in s] or None

    assert eventually(lambda: about_case("lihua@demo.kefu.local"), "the lead's mail") == [
        f"【重新打开】{subject}"
    ]
    # The engineer's 【待办】 arrived, or was skipped because they had done the work by then.
    assert skipped_subjects(process_id, "liugong") or eventually(
        lambda: about_case("liugong@demo.kefu.local"), "the engineer's mail"
    )
