"""Outbox operations in the browser: ops admins see what failed, with the error, and retry it."""

import uuid

from sqlalchemy import select

from db.models import DeliveryState, OutboxMessage, TaskState
from db.session import transaction
from notify.delivery import SKIP_REASONS
from tests.support.factories import dead_email, person
from tests.support.web import csrf_of, logged_in


def dead_message() -> int:
    return dead_email(
        "【待办】回复住户：3-1-502", "SMTPServerDisconnected: Connection unexpectedly closed"
    )


def test_ops_admin_sees_a_dead_delivery_with_its_error_and_retries_it(app: object) -> None:
    message_id = dead_message()
    admin = logged_in(app, "admin")
    page = admin.get("/admin/outbox?state=dead")
    assert page.status_code == 200
    assert (
        "SMTPServerDisconnected" in page.text and f'data-testid="retry-{message_id}"' in page.text
    )
    retried = admin.post(
        f"/admin/outbox/{message_id}/retry", data={"csrf_token": csrf_of(admin, "/admin/outbox")}
    )
    assert retried.status_code == 200
    # Queued again: shown as waiting to be sent, in the outbox's words, not a deadline's.
    assert "待发送" in retried.text and "尚未到期" not in retried.text
    with transaction() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.id == message_id)).one()
        assert (message.state, message.attempts) == (DeliveryState.PENDING, 0)
        assert message.retry_requested_by_id == person(session, "admin").id


def test_others_cannot_see_or_retry_deliveries(app: object) -> None:
    message_id = dead_message()
    lead = logged_in(app, "lihua")
    assert lead.get("/admin/outbox").status_code == 403
    token = csrf_of(lead, "/inbox")
    assert (
        lead.post(f"/admin/outbox/{message_id}/retry", data={"csrf_token": token}).status_code
        == 403
    )
    with transaction() as session:
        assert session.get_one(OutboxMessage, message_id).state == DeliveryState.DEAD


def test_a_skipped_notice_is_listed_with_its_reason_in_chinese_and_no_retry(app: object) -> None:
    with transaction() as session:
        message = OutboxMessage(
            dedup_key=f"test:{uuid.uuid4()}",
            event="task_assigned",
            channel="email",
            recipient_id=person(session, "zhangmin").id,
            subject="【待办】回复住户：3-2-801",
            body="…",
            state=DeliveryState.SKIPPED,
            skip_reason=SKIP_REASONS[TaskState.DONE],
        )
        session.add(message)
        session.flush()
        message_id = message.id
    admin = logged_in(app, "admin")

    overview = admin.get("/admin/outbox")
    # Its own tab with a count; not among the problems, which need someone to act.
    assert 'data-testid="count-skipped"' in overview.text and "已跳过 (" in overview.text
    assert "3-2-801" not in overview.text

    page = admin.get("/admin/outbox?state=skipped")
    assert page.status_code == 200
    assert "3-2-801" in page.text and "通知发出前任务已办结，未发送" in page.text
    assert f'data-testid="retry-{message_id}"' not in page.text
