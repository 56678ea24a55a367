"""Outbox operations in the browser: ops admins see what failed, with the error, and retry it."""

import uuid

from sqlalchemy import select

from db.models import DeliveryState, OutboxMessage
from db.session import transaction
from tests.support.factories import person
from tests.support.web import csrf_of, logged_in


def dead_message() -> int:
    with transaction() as session:
        message = OutboxMessage(
            dedup_key=f"test:{uuid.uuid4()}",
            event="task_assigned",
            channel="email",
            recipient_id=person(session, "zhangmin").id,
            subject="【待办】回复住户：3-1-502",
            body="…",
            state=DeliveryState.DEAD,
            attempts=5,
            last_error="SMTPServerDisconnected: Connection unexpectedly closed",
        )
        session.add(message)
        session.flush()
        return message.id


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
