"""Delivering the outbox through Apprise to a real local SMTP server, at most once per message."""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.models import DeliveryState, OutboxMessage, User
from notify.delivery import (
    DeliveryReport,
    backoff_after,
    claim_next,
    deliver_due,
    email_message_id,
    email_url,
    guarded_apprise_logs,
    mark_stale_sends_unknown,
    redact,
    url_secrets,
)
from notify.outbox import enqueue
from tests.notify.conftest import HoldingSink

AddUser = Callable[..., User]
Make = Callable[..., Settings]

T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)
PASSWORD = "s3cr3t/Pa55+word"
QUOTED_PASSWORD = "s3cr3t%2FPa55%2Bword"
ASSIGNED = {
    "step_title": "经理审批",
    "process_subject": "3栋1201 漏水投诉",
    "due_at": datetime(2025, 11, 24, 10, 0, tzinfo=UTC),
}
SUBJECT = "【待办】经理审批：3栋1201 漏水投诉"


def local_smtp(port: int, *, auth: str = "") -> str:
    """Return the Apprise URL of a plain (no TLS) SMTP server on 127.0.0.1:`port`."""
    return f"mailto://{auth}127.0.0.1:{port}?from=kefu@example.cn"


def queue(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    count: int = 1,
) -> list[int]:
    """Queue one task_assigned email to each of `count` new users; return the message ids."""
    with session_factory.begin() as session:
        users = [
            add_user(session, site_id, f"user{n}", email=f"user{n}@example.cn", display_name="李娜")
            for n in range(count)
        ]
        enqueue(
            session,
            event="task_assigned",
            recipients=users,
            context=ASSIGNED,
            dedup_key="run-1:approval.1",
            now=T0,
            settings=make_settings(),
        )
        return list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))


def message(session_factory: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with session_factory() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row


def test_delivered_email_has_chinese_subject_and_body(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    [message_id] = queue(session_factory, site_id, add_user, make_settings)
    settings = make_settings(smtp_url=local_smtp(port), mail_from="客服中心 <kefu@example.cn>")

    report = deliver_due(T0, session_factory=session_factory, settings=settings)

    assert report == DeliveryReport(sent=1)
    [received] = sink.wait_for(1)
    assert received.rcpt_tos == ["user0@example.cn"]
    assert received.mail_from == "kefu@example.cn"
    assert received.message["Subject"] == SUBJECT
    # On the wire the headers are ASCII and the subject an RFC 2047 encoded word.
    headers = received.raw.replace(b"\r\n", b"\n").split(b"\n\n")[0]
    assert headers.isascii()
    assert b"subject: =?utf-8?" in headers.lower()
    # HTML with a plain-text alternative, both carrying the greeting, the due time and the link.
    assert received.message.get_content_type() == "multipart/alternative"
    text_part = received.message.get_body(preferencelist=("plain",))
    html_part = received.message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    for body in (text, html):
        assert "李娜，您好" in body
        assert "2025-11-24 18:00（北京时间）" in body
    assert '<html lang="zh-CN">' in html
    row = message(session_factory, message_id)
    assert (row.state, row.attempts, row.sent_at, row.last_error) == (
        DeliveryState.SENT,
        1,
        T0,
        None,
    )

    # A sent message is never sent again.
    assert deliver_due(
        T0 + timedelta(hours=1), session_factory=session_factory, settings=settings
    ) == (DeliveryReport())
    assert len(sink.wait_for(1)) == 1


def test_address_is_read_at_send_time(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    queue(session_factory, site_id, add_user, make_settings)
    with session_factory.begin() as session:
        session.execute(update(User).values(email="lina.new@example.cn"))

    deliver_due(
        T0, session_factory=session_factory, settings=make_settings(smtp_url=local_smtp(port))
    )

    [received] = sink.wait_for(1)
    assert received.rcpt_tos == ["lina.new@example.cn"]


def test_server_down_backs_off_then_gives_up(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    closed_port: int,
) -> None:
    [message_id] = queue(session_factory, site_id, add_user, make_settings)
    settings = make_settings(smtp_url=local_smtp(closed_port), outbox_max_attempts=3)

    def run(at: datetime) -> DeliveryReport:
        return deliver_due(at, session_factory=session_factory, settings=settings)

    assert run(T0) == DeliveryReport(failed=1)
    row = message(session_factory, message_id)
    assert (row.state, row.attempts) == (DeliveryState.FAILED, 1)
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    assert row.last_error and "127.0.0.1" in row.last_error

    # Not due again before its backoff has passed.
    assert run(T0 + timedelta(seconds=29)) == DeliveryReport()

    second = T0 + timedelta(seconds=30)
    assert run(second) == DeliveryReport(failed=1)
    row = message(session_factory, message_id)
    assert (row.state, row.attempts) == (DeliveryState.FAILED, 2)
    assert row.next_attempt_at == second + timedelta(minutes=2)

    assert run(second + timedelta(minutes=2)) == DeliveryReport(dead=1)
    row = message(session_factory, message_id)
    assert (row.state, row.attempts, row.sent_at) == (DeliveryState.DEAD, 3, None)

    assert run(second + timedelta(days=1)) == DeliveryReport()


def test_without_smtp_server_configured_email_fails_visibly(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    [message_id] = queue(session_factory, site_id, add_user, make_settings)

    report = deliver_due(T0, session_factory=session_factory, settings=make_settings(smtp_url=None))

    assert report == DeliveryReport(failed=1)
    row = message(session_factory, message_id)
    assert row.state == DeliveryState.FAILED
    assert row.last_error is not None
    assert row.last_error.startswith(
        "no SMTP server: set KEFU_SMTP_URL or the Prefect Secret block kefu-smtp-url"
    )


def test_recipient_without_address_fails(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    _sink, port = smtp_server
    [message_id] = queue(session_factory, site_id, add_user, make_settings)
    with session_factory.begin() as session:
        session.execute(update(User).values(email=None))

    deliver_due(
        T0, session_factory=session_factory, settings=make_settings(smtp_url=local_smtp(port))
    )

    assert message(session_factory, message_id).last_error == "the recipient has no email address"


def test_two_concurrent_senders_send_each_message_once(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    message_ids = queue(session_factory, site_id, add_user, make_settings, count=12)
    settings = make_settings(smtp_url=local_smtp(port))
    start = threading.Barrier(2)
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            start.wait()
            reports.append(deliver_due(T0, session_factory=session_factory, settings=settings))
        except BaseException as error:  # handed to the test thread, which re-raises it
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(report.sent for report in reports) == 12
    received = sink.wait_for(12)
    recipients = sorted(address for mail in received for address in mail.rcpt_tos)
    assert recipients == sorted(f"user{n}@example.cn" for n in range(12))
    assert all(message(session_factory, mid).attempts == 1 for mid in message_ids)


def test_a_claimed_message_cannot_be_claimed_again(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    [message_id] = queue(session_factory, site_id, add_user, make_settings)

    with session_factory.begin() as session:
        first = claim_next(session, now=T0)
    with session_factory.begin() as session:
        second = claim_next(session, now=T0)

    assert first is not None and first.message_id == message_id
    assert first.attempt == 1 and first.address == "user0@example.cn"
    assert second is None
    assert message(session_factory, message_id).state == DeliveryState.SENDING


def test_stale_sending_becomes_unknown_and_is_not_resent(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
) -> None:
    sink, port = smtp_server
    stale_id, fresh_id = queue(session_factory, site_id, add_user, make_settings, count=2)
    settings = make_settings(smtp_url=local_smtp(port), outbox_sending_lease_seconds=300)
    with session_factory.begin() as session:
        # One sender died mid-send long ago; another is sending right now.
        assert claim_next(session, now=T0).message_id == stale_id  # type: ignore[union-attr]
        fresh = claim_next(session, now=T0 + timedelta(seconds=200))
        assert fresh is not None and fresh.message_id == fresh_id

    report = deliver_due(
        T0 + timedelta(seconds=301), session_factory=session_factory, settings=settings
    )

    assert report == DeliveryReport(unknown=1)
    stale = message(session_factory, stale_id)
    assert stale.state == DeliveryState.UNKNOWN and stale.sent_at is None
    assert "not re-sent" in (stale.last_error or "")
    assert message(session_factory, fresh_id).state == DeliveryState.SENDING
    assert sink.envelopes == []
    later = deliver_due(T0 + timedelta(days=1), session_factory=session_factory, settings=settings)
    assert later == DeliveryReport(unknown=1)
    assert sink.envelopes == []


def test_only_the_claimed_message_waits_for_its_lease_and_the_rest_stay_due(
    session_factory: sessionmaker[Session], site_id: int, add_user: AddUser, make_settings: Make
) -> None:
    lease = timedelta(seconds=300)
    claimed_id, *untried = queue(session_factory, site_id, add_user, make_settings, count=3)
    with session_factory.begin() as session:
        # A sender claims its first message and dies before it claims the next.
        claimed = claim_next(session, now=T0)

    with session_factory.begin() as session:
        within = mark_stale_sends_unknown(session, now=T0 + lease, lease=lease)
    with session_factory.begin() as session:
        after = mark_stale_sends_unknown(
            session, now=T0 + lease + timedelta(seconds=1), lease=lease
        )
    untouched = [message(session_factory, mid) for mid in untried]
    with session_factory.begin() as session:
        next_claim = claim_next(session, now=T0 + lease + timedelta(seconds=1))

    assert claimed is not None and claimed.message_id == claimed_id
    assert (within, after) == (0, 1)
    assert message(session_factory, claimed_id).state == DeliveryState.UNKNOWN
    assert [(row.state, row.attempts) for row in untouched] == [(DeliveryState.PENDING, 0)] * 2
    assert next_claim is not None and next_claim.message_id == untried[0]


def test_an_email_whose_answer_never_came_is_unknown_and_a_retry_keeps_its_message_id(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    holding_smtp_server: Callable[[int], tuple[HoldingSink, int]],
) -> None:
    sink, port = holding_smtp_server(1)
    [message_id] = queue(session_factory, site_id, add_user, make_settings)
    # The server takes the message and holds its answer past the sender's one-second timeout.
    settings = make_settings(smtp_url=f"{local_smtp(port)}&cto=1")

    first = deliver_due(T0, session_factory=session_factory, settings=settings)
    sink.release.set()
    row = message(session_factory, message_id)
    with session_factory.begin() as session:
        # An ops admin sends it again (notify.operations.retry_delivery).
        session.execute(
            update(OutboxMessage).values(
                state=DeliveryState.PENDING, attempts=0, sending_since=None
            )
        )
    second = deliver_due(T0, session_factory=session_factory, settings=settings)

    assert first == DeliveryReport(unknown=1)
    assert row.state == DeliveryState.UNKNOWN and "no answer" in (row.last_error or "")
    assert second == DeliveryReport(sent=1)
    # Both copies arrived, as one message to the mailbox: the same Message-ID.
    key = email_message_id(row.dedup_key, "kefu@example.cn")
    assert sink.message_ids == {key: 2}


@pytest.mark.parametrize("server", ["down", "refuses_login"])
def test_smtp_password_never_reaches_errors_or_logs(
    session_factory: sessionmaker[Session],
    site_id: int,
    add_user: AddUser,
    make_settings: Make,
    smtp_server: tuple[Any, int],
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
    server: str,
) -> None:
    # The local server offers no AUTH, so a login with the password fails after connecting.
    port = closed_port if server == "down" else smtp_server[1]
    [message_id] = queue(session_factory, site_id, add_user, make_settings)
    settings = make_settings(smtp_url=local_smtp(port, auth=f"kefu:{QUOTED_PASSWORD}@"))
    caplog.set_level(1)  # everything, down to Apprise's TRACE level

    report = deliver_due(T0, session_factory=session_factory, settings=settings)

    assert report == DeliveryReport(failed=1)
    error = message(session_factory, message_id).last_error or ""
    assert error
    logs = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "outbox message" in logs  # our own failure log was captured
    for secret in (PASSWORD, QUOTED_PASSWORD):
        assert secret not in error
        assert secret not in logs


def test_backoff_grows_then_levels_off() -> None:
    waits = [backoff_after(attempt) for attempt in range(1, 8)]

    assert waits[:3] == [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10)]
    assert waits == sorted(waits)
    assert waits[-1] == waits[-2]


def test_email_url_sends_to_the_one_recipient_only() -> None:
    url = email_url(
        "mailtos://kefu:pw@smtp.example.cn:465/boss@example.cn?mode=ssl&to=x@example.cn",
        to="lina+kefu@example.cn",
        mail_from="客服中心 <kefu@example.cn>",
    )

    assert url.startswith("mailtos://kefu:pw@smtp.example.cn:465?")
    assert "boss" not in url and "x%40example.cn" not in url
    assert "to=lina%2Bkefu%40example.cn" in url
    assert "mode=ssl" in url and "format=text" in url


def test_email_url_keeps_a_configured_sender() -> None:
    url = email_url("mailto://127.0.0.1:25?from=ops@example.cn", to="a@example.cn", mail_from="x")

    assert "from=ops%40example.cn" in url and "from=x" not in url


def test_redact_masks_the_url_and_both_spellings_of_the_password() -> None:
    url = f"mailto://kefu:{QUOTED_PASSWORD}@127.0.0.1:25"
    text = f"failed {url}; password {PASSWORD}; quoted {QUOTED_PASSWORD}"

    assert redact(text, url_secrets(url)) == "failed ****; password ****; quoted ****"


def test_apprise_logs_are_masked_and_warnings_kept_per_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"mailto://kefu:{QUOTED_PASSWORD}@127.0.0.1:25"
    apprise_logger = logging.getLogger("apprise")
    caplog.set_level(logging.DEBUG)

    with guarded_apprise_logs(url_secrets(url)) as warnings:
        apprise_logger.warning("could not load %s", url)
        apprise_logger.debug("login with %s", PASSWORD)
        other = threading.Thread(target=apprise_logger.warning, args=("another sender",))
        other.start()
        other.join()
    apprise_logger.warning("after the send %s", PASSWORD)

    assert warnings == ["could not load ****"]
    assert "could not load ****" in caplog.text and "login with ****" in caplog.text
    # Outside the guard nothing is masked: the guard is scoped to our sends.
    assert caplog.text.count(PASSWORD) == 1
