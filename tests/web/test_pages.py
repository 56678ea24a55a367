"""The web inbox's guards, page by page: login, lockout, CSRF, who may see what, attachments."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from db.base import utcnow
from db.models import (
    ApiToken,
    Event,
    InboxTask,
    OutboxMessage,
    ProcessKind,
    TaskAttachment,
    TaskComment,
    TaskPause,
    User,
)
from db.session import transaction
from domain.inbox import open_task
from domain.people import LOCKOUT
from domain.steps import HumanRequest, HumanStep
from flows.complaint import DEPARTMENT_WORK
from flows.training_plan import APPROVE, DRAFT
from launch.demo import DEMO_PASSWORD
from notify.links import sign_process_link, sign_task_link
from notify.outbox import enqueue
from tests.support.factories import case, complaint_task, person
from tests.support.web import csrf_of, logged_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def anonymous(app: object) -> Iterator[TestClient]:
    with TestClient(app) as client:  # type: ignore[arg-type]
        yield client


def open_task_of(username: str) -> int:
    with transaction() as session:
        return complaint_task(session, utcnow(), by=username).id


def test_pages_need_a_login_and_say_so_in_chinese(anonymous: TestClient) -> None:
    response = anonymous.get("/inbox?view=queue")
    assert response.url.path == "/login"
    assert "登录" in response.text
    english = anonymous.get("/login", headers={"Accept-Language": "en"})
    assert "Log in" in english.text


def test_a_form_without_its_csrf_token_is_refused(app: object) -> None:
    client = logged_in(app, "zhangmin")
    task_id = open_task_of("zhangmin")
    response = client.post(f"/tasks/{task_id}/comments", data={"body": "没有令牌"})
    assert response.status_code == 403
    assert "表单已过期" in response.text
    forged = client.post(f"/tasks/{task_id}/comments", data={"body": "x", "csrf_token": "forged"})
    assert forged.status_code == 403
    with transaction() as session:
        assert not session.scalars(select(TaskComment).where(TaskComment.task_id == task_id)).all()


def test_repeated_wrong_passwords_lock_the_account_for_web_and_api(app: object) -> None:
    username = "wangqiang"
    client = TestClient(app)  # type: ignore[arg-type]
    token = csrf_of(client, "/login")
    for _ in range(LOCKOUT.max_failures):
        wrong = client.post(
            "/login", data={"username": username, "password": "wrong-password", "csrf_token": token}
        )
        assert wrong.status_code == 401
        assert "用户名或密码错误" in wrong.text
    right = client.post(
        "/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429
    assert "账号已锁定 15 分钟" in right.text
    api = client.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    assert api.status_code == 429
    with transaction() as session:
        locked = person(session, username)
        assert locked.locked_until is not None
        locked.locked_until = None  # the other tests log in as this person


def test_logout_revokes_the_browser_token_only(app: object) -> None:
    client = logged_in(app, "lihua")
    with transaction() as session:
        lead = person(session, "lihua")
        before = session.scalars(select(ApiToken).where(ApiToken.user_id == lead.id)).all()
        live_before = sum(not t.revoked for t in before)
    client.post("/logout", data={"csrf_token": csrf_of(client, "/inbox")})
    assert client.get("/inbox").url.path == "/login"
    with transaction() as session:
        tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == lead.id)).all()
        assert sum(not t.revoked for t in tokens) == live_before - 1


def test_staff_have_no_team_or_approvals_view(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    assert staff.get("/inbox?view=team").status_code == 403
    assert staff.get("/inbox?view=approvals").status_code == 403
    lead = logged_in(app, "lihua")
    assert lead.get("/inbox?view=team").status_code == 200


def test_another_staff_member_cannot_open_the_task_or_its_files(app: object) -> None:
    owner = logged_in(app, "zhangmin")
    task_id = open_task_of("zhangmin")
    token = csrf_of(owner, f"/tasks/{task_id}")
    uploaded = owner.post(
        f"/tasks/{task_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("现场照片.png", PNG, "image/png")},
    )
    assert uploaded.status_code == 200
    with transaction() as session:
        attachment = session.scalars(
            select(TaskAttachment).where(TaskAttachment.task_id == task_id)
        ).one()
    download = owner.get(f"/attachments/{attachment.id}")
    assert download.status_code == 200 and download.content == PNG

    other = logged_in(app, "wangqiang")
    assert other.get(f"/tasks/{task_id}").status_code == 404
    assert other.get(f"/attachments/{attachment.id}").status_code == 404
    claim = other.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf_of(other, "/inbox")})
    assert claim.status_code == 404


def test_a_file_of_the_wrong_type_is_refused_with_the_reason(app: object) -> None:
    owner = logged_in(app, "zhangmin")
    task_id = open_task_of("zhangmin")
    token = csrf_of(owner, f"/tasks/{task_id}")
    refused = owner.post(
        f"/tasks/{task_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("photo.png", b"MZ not a picture", "image/png")},
    )
    assert refused.status_code == 422
    with transaction() as session:
        assert not session.scalars(
            select(TaskAttachment).where(TaskAttachment.task_id == task_id)
        ).all()


def test_a_refused_decision_keeps_what_was_typed(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    task_id = open_task_of("zhangmin")
    token = csrf_of(staff, f"/tasks/{task_id}")
    response = staff.post(
        f"/tasks/{task_id}/complete", data={"csrf_token": token, "response_note": "   "}
    )
    assert response.status_code == 422
    assert 'data-testid="error-response_note"' in response.text
    with transaction() as session:
        assert session.get_one(InboxTask, task_id).state == "open"


def test_delegating_hands_the_task_to_a_colleague(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    task_id = open_task_of("zhangmin")
    with transaction() as session:
        colleague_id = session.scalars(select(User.id).where(User.username == "wangqiang")).one()
    token = csrf_of(staff, f"/tasks/{task_id}")
    staff.post(f"/tasks/{task_id}/delegate", data={"csrf_token": token, "to_user_id": colleague_id})
    with transaction() as session:
        task = session.get_one(InboxTask, task_id)
        assert task.assignee_id == colleague_id
        assert task.owner_of_record_id != colleague_id  # 首问负责 stays with the first responder


def test_a_notification_link_opens_its_task_after_login(app: object) -> None:
    task_id = open_task_of("zhangmin")
    token = sign_task_link(task_id, now=utcnow())
    stranger = TestClient(app)  # type: ignore[arg-type]
    assert stranger.get(f"/t/{token}").url.path == "/login"
    staff = logged_in(app, "zhangmin")
    opened = staff.get(f"/t/{token}")
    assert opened.url.path == f"/tasks/{task_id}"
    assert 'data-testid="task-title"' in opened.text
    tampered = staff.get(f"/t/{token[:-2]}xx")
    assert tampered.status_code == 410
    assert "该链接已失效" in tampered.text
    expired = sign_task_link(task_id, now=utcnow() - timedelta(days=365))
    assert staff.get(f"/t/{expired}").status_code == 410


def test_news_of_a_case_links_to_its_page_while_the_recipient_takes_part(app: object) -> None:
    with transaction() as session:
        first = complaint_task(session, utcnow(), by="zhangmin")
        process_id = first.process_id
    engineer = logged_in(app, "liugong")
    assert engineer.get(f"/t/{sign_process_link(process_id, now=utcnow())}").status_code == 404

    with transaction() as session:
        # The complaint is dispatched to engineering: the engineer now takes part in it.
        work = open_task(
            session,
            DEPARTMENT_WORK,
            HumanRequest(
                process_id=process_id, key="department-1-1", site_id=first.site_id,
                candidate_role="engineering", owner_of_record_id=first.owner_of_record_id,
            ),
            str(uuid.uuid4()),
            utcnow(),
        )  # fmt: skip
        enqueue(
            session,
            event="complaint_closed",
            recipients=[person(session, "liugong")],
            context={"process_subject": "楼上噪音", "unit": "3-1201", "satisfaction": 5},
            dedup_key=f"{process_id}:complaint_closed:test",
            process_id=process_id,
        )
        # every channel's message carries the same signed link to the case
        [link] = set(
            session.scalars(
                select(OutboxMessage.link_url).where(
                    OutboxMessage.process_id == process_id,
                    OutboxMessage.event == "complaint_closed",
                )
            )
        )
    assert link is not None and "/t/" in link
    opened = engineer.get("/t/" + link.split("/t/", 1)[1])
    assert opened.status_code == 200 and opened.url.path == f"/processes/{process_id}"

    # The work goes back to the front desk: the same link no longer shows the case to him.
    with transaction() as session:
        zhangmin = person(session, "zhangmin")
        session.execute(
            update(InboxTask).where(InboxTask.id == work.id).values(assignee_id=zhangmin.id)
        )
    assert engineer.get("/t/" + link.split("/t/", 1)[1]).status_code == 404


def test_a_pause_shows_on_the_task_and_in_the_case_history(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    task_id = open_task_of("zhangmin")
    with transaction() as db:
        process_id = db.get_one(InboxTask, task_id).process_id
    token = csrf_of(staff, f"/tasks/{task_id}")
    staff.post(
        f"/tasks/{task_id}/pause",
        data={"csrf_token": token, "reason": "waiting_resident", "note": "业主出差"},
    )
    page = staff.get(f"/tasks/{task_id}").text
    assert "计时已暂停" in page and "等待住户" in page

    staff.post(f"/tasks/{task_id}/resume-clock", data={"csrf_token": token})
    history = staff.get(f"/processes/{process_id}").text
    assert "计时已暂停" not in staff.get(f"/tasks/{task_id}").text
    with transaction() as db:
        kinds = db.scalars(
            select(Event.kind).where(Event.task_id == task_id).order_by(Event.id)
        ).all()
        pause = db.scalars(select(TaskPause).where(TaskPause.task_id == task_id)).one()
    assert kinds[-2:] == ["sla_paused", "sla_resumed"]
    assert (pause.reason, pause.note, pause.ended_at is not None) == (
        "waiting_resident",
        "业主出差",
        True,
    )
    assert "暂停计时" in history and "恢复计时" in history
    assert "等待住户：业主出差" in history  # the reason in words, and the holder's note


def test_an_escalation_tiers_queue_shows_the_task_without_a_claim_button(app: object) -> None:
    with transaction() as session:
        supervisor = person(session, "zhaolei")
        plan = case(session, ProcessKind.TRAINING_PLAN, supervisor, drafter=supervisor)

        def queued(step: HumanStep[Any], tier: str) -> int:
            request = HumanRequest(
                process_id=plan.id, key=f"k-{uuid.uuid4().hex[:8]}", site_id=plan.site_id,
                candidate_role="site_manager", owner_of_record_id=supervisor.id,
            )  # fmt: skip
            task = open_task(session, step, request, str(uuid.uuid4()), utcnow())
            task.tier = tier
            return task.id

        escalated_draft, approval = queued(DRAFT, "site_manager"), queued(APPROVE, "staff")
    manager = logged_in(app, "chenjing")
    page = manager.get(f"/tasks/{escalated_draft}")
    assert page.status_code == 200 and 'data-testid="claim"' not in page.text
    assert 'data-testid="claim"' in manager.get(f"/tasks/{approval}").text
