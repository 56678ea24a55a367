"""Deliver due outbox messages, each at most once, with backoff between attempts.

Email is submitted over SMTP to the server Apprise reads from KEFU_SMTP_URL; WeCom person and
group-bot messages go through notify.wecom, which checks WeCom's errcode. Each message is claimed
by compare-and-set just before its own send, and the claim is committed first, so two senders never
send the same row and a sender killed mid-pass leaves only the message it was sending in
"sending": the rest are still due and go out on the next pass. A message whose sender vanished
mid-send, or whose answer never came after it was handed over, becomes "unknown" and is never
re-sent by itself; an ops admin may retry it. An email carries a Message-ID derived from its row's
dedup key, the same on every attempt, so a mailbox shows a retried copy as the same message. WeCom
takes no such key: a retried WeCom message that had arrived arrives twice.

A group bot gets at most its per-minute quota; the overflow waits for the next minute. Several
low-urgency messages waiting for one person on one channel go out as one merged message.

A notice that asks someone to act on a task (the 【待办】 of a new task, a due-soon reminder) is
checked against its task when the sender picks it up: if the task was completed or cancelled in
the meantime, the message is marked "skipped" with the reason, not sent.
"""

import hashlib
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import apprise
import httpx
from apprise.plugins.email import NotifyEmail, SecureMailMode
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from config import Settings, get_settings
from db.base import utcnow
from db.models import (
    DeliveryState,
    InboxTask,
    NotificationPreference,
    OutboxMessage,
    TaskState,
    User,
)
from db.session import get_sessionmaker
from i18n import gettext_for
from notify.bot_quota import forget_old_windows, take_bot_slot
from notify.errors import DeliveryError, DeliveryUncertain
from notify.links import inbox_url
from notify.preferences import UNMERGEABLE_EVENTS
from notify.redaction import RedactingFilter, redact
from notify.render import NotificationChannel, NotificationEvent, render, resolve_locale
from notify.secrets import bot_key, corp_secret, smtp_url
from notify.wecom import (
    APP_MARKDOWN_LIMIT_BYTES,
    BOT_MARKDOWN_LIMIT_BYTES,
    WeComClient,
    clip_utf8,
)

logger = logging.getLogger(__name__)

# Waits before attempt 2, 3, 4, ...; the last one repeats until outbox_max_attempts.
RETRY_BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ERROR_CHARS = 500  # the width of outbox_message.last_error
EMAIL_SCHEMES = ("mailto", "mailtos")
APPRISE_LOGGER = "apprise"
APPRISE_APP_ID = "kefu-flow"
STALE_SEND_ERROR = "the sender did not report back within the sending lease; not re-sent"

# Query parameters of the configured SMTP URL that every delivery sets itself.
_PER_MESSAGE_PARAMS = frozenset({"to", "format"})


# Channels that reach one person, whose low-urgency messages may be merged into one.
PERSON_CHANNELS = (NotificationChannel.EMAIL, NotificationChannel.WECOM)
# The note (an English msgid) and link that end a WeCom message clipped to its byte limit.
CLIPPED_NOTE = "… (message too long) [Open the full task]({url})"
RETRYABLE_STATES = (DeliveryState.PENDING, DeliveryState.FAILED)
# Notices that ask the recipient to act on their task: stale once it is no longer open, or no
# longer theirs (reassigned, delegated, escalated to another holder, claimed by a colleague).
TASK_ACTION_EVENTS = frozenset({NotificationEvent.TASK_ASSIGNED, NotificationEvent.TASK_DUE_SOON})
# Why a task notice was not sent (English msgids; the ops page shows them translated), by the
# task's state, or HANDED_ON when it is open but held by someone else.
HANDED_ON = "handed_on"
SKIP_REASONS: dict[str, str] = {
    TaskState.DONE: "The task was already completed when the notice was due to go out",
    TaskState.CANCELLED: "The task was already cancelled when the notice was due to go out",
    HANDED_ON: "The task was given to someone else before the notice went out",
}


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    unknown: int = 0
    # Waiting for a group bot's next minute; not an attempt.
    deferred: int = 0
    # Sent inside another message of the same burst (counted here, not in `sent`).
    merged: int = 0
    # Not sent: a task notice whose task was completed or cancelled before it went out.
    skipped: int = 0


@dataclass(frozen=True)
class Claim:
    """One attempt at one message, owned by the sender that claimed it."""

    message_id: int
    attempt: int
    channel: str
    subject: str
    body: str
    address: str | None
    # The same on every attempt, so a repeat after an unknown outcome is known as the same message.
    delivery_key: str = ""
    body_html: str | None = None
    event: str = ""
    recipient_id: int | None = None
    locale: str | None = None
    bot_name: str | None = None
    link_url: str | None = None
    urgent: bool = False
    previous_state: str = DeliveryState.PENDING
    display_name: str = ""
    # The state and holder of the message's task when it was claimed; None for other news.
    task_state: str | None = None
    task_assignee_id: int | None = None


@dataclass(frozen=True)
class Companion:
    """A message claimed to go out inside another one's burst message."""

    message_id: int
    attempt: int
    subject: str
    link_url: str | None


def backoff_after(attempt: int) -> timedelta:
    """Return how long to wait after failed attempt number `attempt` (counting from 1)."""
    return RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF)) - 1]


def mark_stale_sends_unknown(session: Session, *, now: datetime, lease: timedelta) -> int:
    """Mark messages left "sending" longer than `lease` as unknown; return how many."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.state == DeliveryState.SENDING,
            OutboxMessage.sending_since < now - lease,
        )
        .values(state=DeliveryState.UNKNOWN, last_error=STALE_SEND_ERROR)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _claim_of(session: Session, message_id: int, attempt: int) -> Claim:
    """Return the claim of a message just moved to "sending" as attempt number `attempt`."""
    # Addresses are read now, at send time, so a corrected address is used on the next attempt.
    row = session.execute(
        select(
            OutboxMessage.dedup_key,
            OutboxMessage.channel,
            OutboxMessage.subject,
            OutboxMessage.body,
            OutboxMessage.body_html,
            OutboxMessage.event,
            OutboxMessage.recipient_id,
            OutboxMessage.bot_name,
            OutboxMessage.link_url,
            OutboxMessage.urgent,
            User.email,
            User.locale,
            User.display_name,
            NotificationPreference.wecom_userid,
            InboxTask.state.label("task_state"),
            InboxTask.assignee_id.label("task_assignee_id"),
        )
        .outerjoin(User, User.id == OutboxMessage.recipient_id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .outerjoin(InboxTask, InboxTask.id == OutboxMessage.task_id)
        .where(OutboxMessage.id == message_id)
    ).one()
    addresses = {
        NotificationChannel.EMAIL: row.email,
        NotificationChannel.WECOM: row.wecom_userid,
    }
    return Claim(
        message_id,
        attempt,
        row.channel,
        row.subject,
        row.body,
        addresses.get(NotificationChannel(row.channel)),
        delivery_key=row.dedup_key,
        body_html=row.body_html,
        event=row.event,
        recipient_id=row.recipient_id,
        locale=row.locale,
        bot_name=row.bot_name,
        link_url=row.link_url,
        urgent=row.urgent,
        previous_state=DeliveryState.PENDING if attempt == 1 else DeliveryState.FAILED,
        display_name=row.display_name or "",
        task_state=row.task_state,
        task_assignee_id=row.task_assignee_id,
    )


def claim_next(session: Session, *, now: datetime) -> Claim | None:
    """Move the oldest due message to "sending" and return its claim; None if none is due."""
    next_due = (
        select(OutboxMessage.id)
        .where(
            # New messages wait too: for quiet hours, a burst's hold or a bot's next minute.
            OutboxMessage.state.in_(RETRYABLE_STATES),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
        # Concurrent senders take different rows rather than queue for one (PostgreSQL; SQLite
        # runs one writer at a time anyway, so the choice and the move are one step there).
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    moved = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == next_due)
        .values(state=DeliveryState.SENDING, sending_since=now, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id, OutboxMessage.attempts)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    return None if moved is None else _claim_of(session, moved.id, moved.attempts)


def skip_reason(claimed: Claim) -> str | None:
    """Return why the claimed message must not go out (its task is closed or went to someone
    else), or None if it may."""
    if claimed.event not in TASK_ACTION_EVENTS or claimed.task_state is None:
        return None
    if claimed.task_state != TaskState.OPEN:
        return SKIP_REASONS.get(claimed.task_state)
    # A group bot's notice (no recipient) speaks to the team, whoever holds the task.
    held_by = claimed.task_assignee_id
    if claimed.recipient_id is not None and held_by not in (None, claimed.recipient_id):
        return SKIP_REASONS[HANDED_ON]
    return None


def _task_still_theirs() -> ColumnElement[bool]:
    """Return the condition that a message is no task notice, or its task is still open and
    not held by someone other than its recipient."""
    task_gone = (
        select(InboxTask.id)
        .where(
            InboxTask.id == OutboxMessage.task_id,
            or_(
                InboxTask.state != TaskState.OPEN,
                InboxTask.assignee_id != OutboxMessage.recipient_id,
            ),
        )
        .exists()
    )
    return or_(OutboxMessage.event.not_in(list(TASK_ACTION_EVENTS)), ~task_gone)


def record_skipped(session: Session, claimed: Claim, reason: str, *, now: datetime) -> None:
    """Mark the claimed message skipped for `reason`, untried (no attempt is used up)."""
    _finish(
        session,
        claimed,
        state=DeliveryState.SKIPPED,
        attempts=claimed.attempt - 1,
        sending_since=None,
        skip_reason=reason,
        skipped_at=now,
    )


def defer(session: Session, claimed: Claim, *, until: datetime) -> None:
    """Give a claimed message back untried, due again at `until` (no attempt is used up)."""
    _finish(
        session,
        claimed,
        state=claimed.previous_state,
        attempts=claimed.attempt - 1,
        next_attempt_at=until,
        sending_since=None,
    )


def is_mergeable(claimed: Claim) -> bool:
    """Return whether the claimed message may go out together with others to the same person."""
    return (
        not claimed.urgent
        and claimed.recipient_id is not None
        and claimed.channel in PERSON_CHANNELS
        and claimed.event not in UNMERGEABLE_EVENTS
    )


def claim_companions(
    session: Session, claimed: Claim, *, now: datetime, hold: timedelta
) -> list[Companion]:
    """Claim the other low-urgency messages due (or due within `hold`) to the same person.

    A task notice whose task has closed or gone to someone else is left out; it is skipped
    when claimed on its own.
    """
    rows = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.recipient_id == claimed.recipient_id,
            OutboxMessage.channel == claimed.channel,
            OutboxMessage.id != claimed.message_id,
            OutboxMessage.state.in_(RETRYABLE_STATES),
            OutboxMessage.urgent.is_(False),
            OutboxMessage.event.not_in(list(UNMERGEABLE_EVENTS)),
            OutboxMessage.next_attempt_at <= now + hold,
            _task_still_theirs(),
        )
        .values(state=DeliveryState.SENDING, sending_since=now, attempts=OutboxMessage.attempts + 1)
        .returning(
            OutboxMessage.id,
            OutboxMessage.attempts,
            OutboxMessage.subject,
            OutboxMessage.link_url,
        )
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((Companion(*row) for row in rows), key=lambda companion: companion.message_id)


def merged_claim(claimed: Claim, companions: Sequence[Companion], settings: Settings) -> Claim:
    """Return the claim re-rendered as one message that lists itself and its companions."""
    items = [{"subject": claimed.subject, "url": claimed.link_url}] + [
        {"subject": companion.subject, "url": companion.link_url} for companion in companions
    ]
    message = render(
        NotificationEvent.NOTIFICATION_BURST,
        claimed.channel,
        claimed.locale,
        {
            "recipient_name": claimed.display_name,
            "task_url": None,
            "items": items,
            "inbox_url": inbox_url(settings),
        },
    )
    parts = ",".join(str(companion.message_id) for companion in companions)
    return replace(
        claimed,
        # Another burst around the same message is another message, with its own key.
        delivery_key=f"{claimed.delivery_key}+{parts}",
        subject=message.subject,
        body=message.body,
        body_html=message.body_html,
        link_url=inbox_url(settings),
    )


def _finish(session: Session, claimed: Claim | Companion, **values: object) -> None:
    # Matching the attempt number means only the claim's owner records its outcome.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == claimed.message_id, OutboxMessage.attempts == claimed.attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def record_sent(
    session: Session, claimed: Claim | Companion, *, now: datetime, merged_into: int | None = None
) -> None:
    """Mark the claimed message sent (inside message `merged_into`, for a burst's companions)."""
    _finish(
        session,
        claimed,
        state=DeliveryState.SENT,
        sent_at=now,
        last_error=None,
        merged_into_id=merged_into,
    )


def record_unknown(session: Session, claimed: Claim | Companion, error: str) -> None:
    """Mark the claimed message unknown: it may have arrived, so it is not retried by itself."""
    _finish(session, claimed, state=DeliveryState.UNKNOWN, last_error=error[:MAX_ERROR_CHARS])


def record_failure(
    session: Session,
    claimed: Claim | Companion,
    error: str,
    *,
    now: datetime,
    max_attempts: int,
) -> DeliveryState:
    """Mark the claimed message failed (retried after a backoff) or dead; return which."""
    if claimed.attempt >= max_attempts:
        _finish(session, claimed, state=DeliveryState.DEAD, last_error=error[:MAX_ERROR_CHARS])
        return DeliveryState.DEAD
    _finish(
        session,
        claimed,
        state=DeliveryState.FAILED,
        last_error=error[:MAX_ERROR_CHARS],
        next_attempt_at=now + backoff_after(claimed.attempt),
    )
    return DeliveryState.FAILED


def url_secrets(url: str) -> list[str]:
    """Return the parts of `url` that must never be logged or stored: the password and the URL."""
    password = urlsplit(url).password
    secrets = [url]
    if password:
        secrets += [password, unquote(password)]
    return secrets


def email_url(smtp_url: str, *, to: str, mail_from: str, body_format: str = "text") -> str:
    """Return the Apprise URL that sends `body_format` mail to `to` through `smtp_url`'s server."""
    parts = urlsplit(smtp_url)
    if parts.scheme not in EMAIL_SCHEMES:
        raise DeliveryError("KEFU_SMTP_URL must be a mailto:// or mailtos:// URL")
    params = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in _PER_MESSAGE_PARAMS
    ]
    if not any(key == "from" for key, _ in params):
        params.append(("from", mail_from))
    params += [("to", to), ("format", body_format)]
    # The path would hold more recipients; each message goes to its one recipient only.
    return urlunsplit((parts.scheme, parts.netloc, "", urlencode(params, quote_via=quote), ""))


class _ThreadWarnings(logging.Handler):
    """Collect the warnings Apprise logs on this thread, the only account it gives of a failure."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self.messages.append(record.getMessage())


@contextmanager
def guarded_apprise_logs(secrets: Sequence[str]) -> Iterator[list[str]]:
    """Mask `secrets` in Apprise's logs while the block runs; yield the warnings it logs."""
    apprise_logger = logging.getLogger(APPRISE_LOGGER)
    redactor, warnings = RedactingFilter(secrets), _ThreadWarnings()
    apprise_logger.addFilter(redactor)
    apprise_logger.addHandler(warnings)
    try:
        yield warnings.messages
    finally:
        apprise_logger.removeHandler(warnings)
        apprise_logger.removeFilter(redactor)


def email_message_id(delivery_key: str, sender: str) -> str:
    """Return the Message-ID of every attempt at the delivery `delivery_key` from `sender`."""
    digest = hashlib.sha256(delivery_key.encode()).hexdigest()[:32]
    return f"<{digest}@{sender.rpartition('@')[2] or 'localhost'}>"


def _mail_server(server_url: str, to: str, settings: Settings, secrets: list[str]) -> NotifyEmail:
    """Return the configured mail server as Apprise reads the URL (services, ports, TLS, login)."""
    url = email_url(server_url, to=to, mail_from=settings.mail_from)
    asset = apprise.AppriseAsset(app_id=APPRISE_APP_ID, secure_logging=True)
    with guarded_apprise_logs(secrets) as warnings:
        server = apprise.Apprise.instantiate(url, asset=asset)
    if not isinstance(server, NotifyEmail):
        reason = "; ".join(warnings) or "KEFU_SMTP_URL is not a valid Apprise email URL"
        raise DeliveryError(redact(reason, secrets))
    return server


def _compose(claimed: Claim, sender: tuple[str | bool, str]) -> bytes:
    message = EmailMessage()
    message["Subject"] = claimed.subject
    message["From"] = formataddr((sender[0] or None, sender[1]), charset="utf-8")
    message["To"] = claimed.address
    message["Date"] = formatdate()
    message["Message-ID"] = email_message_id(claimed.delivery_key, sender[1])
    message["X-Application"] = APPRISE_APP_ID
    message.set_content(claimed.body, cte="quoted-printable")
    if claimed.body_html:
        message.add_alternative(claimed.body_html, subtype="html", cte="quoted-printable")
    return message.as_bytes(policy=SMTP_POLICY)


def _expect(reply: tuple[int, bytes], accepted: tuple[int, ...], what: str) -> None:
    code, text = reply
    if code not in accepted:
        raise DeliveryError(
            f"the mail server refused {what}: {code} {text.decode(errors='replace')}"
        )


def send_email(claimed: Claim, settings: Settings) -> None:
    """Send the claimed email; raise DeliveryError if not sent, DeliveryUncertain if it may be.

    Apprise reads the server URL but the message is submitted here: Apprise gives every message a
    random Message-ID, and reports a lost answer to the message's data the same as a refusal.
    """
    if not claimed.address:
        raise DeliveryError("the recipient has no email address")
    server_url = smtp_url(settings)
    secrets = url_secrets(server_url)
    server = _mail_server(server_url, claimed.address, settings, secrets)
    content = _compose(claimed, server.from_addr)
    where = f"the mail server {server.smtp_host}:{server.port}"
    context = ssl.create_default_context()
    if not server.verify_certificate:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    timeout = server.socket_connect_timeout
    try:
        if server.secure_mode == SecureMailMode.SSL:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                server.smtp_host, server.port, timeout=timeout, context=context
            )
        else:
            connection = smtplib.SMTP(server.smtp_host, server.port, timeout=timeout)
    except OSError as error:
        raise DeliveryError(redact(f"could not connect to {where}: {error}", secrets)) from None
    try:
        try:
            if server.secure_mode == SecureMailMode.STARTTLS:
                connection.starttls(context=context)
            if server.user and server.password:
                connection.login(server.user, server.password)
            connection.ehlo_or_helo_if_needed()
            _expect(connection.mail(server.from_addr[1]), (250,), "the sender")
            _expect(connection.rcpt(claimed.address), (250, 251), "the recipient")
        except OSError as error:  # smtplib's errors are OSErrors too
            raise DeliveryError(redact(f"{where}: {error}", secrets)) from None
        try:
            reply = connection.data(content)
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(redact(f"{where} refused the data: {error}", secrets)) from None
        except OSError as error:
            # The message was handed over but its answer never came: it may well have arrived.
            raise DeliveryUncertain(redact(f"no answer from {where}: {error}", secrets)) from None
        _expect(reply, (250,), "the message")
        with suppress(OSError):
            connection.quit()
    finally:
        connection.close()


def clipped_markdown(claimed: Claim, limit: int) -> str:
    """Return the claim's markdown within `limit` UTF-8 bytes, ending with its link if clipped."""
    note = ""
    if claimed.link_url:
        translate = gettext_for(resolve_locale(claimed.locale))
        note = "\n\n" + translate(CLIPPED_NOTE).format(url=claimed.link_url)
    return clip_utf8(claimed.body, limit, note)


@dataclass
class Senders:
    """What one delivery pass sends with: the settings and a lazily opened WeCom connection."""

    settings: Settings
    clock: Callable[[], datetime]
    _wecom: WeComClient | None = None

    def wecom(self) -> WeComClient:
        """Return the pass's WeCom client, opening it on first use."""
        if self._wecom is None:
            http = httpx.Client(timeout=self.settings.wecom_timeout_seconds)
            self._wecom = WeComClient(http, self.settings.wecom_api_base_url, self.clock)
        return self._wecom

    def close(self) -> None:
        """Close the WeCom connection if one was opened."""
        if self._wecom is not None:
            self._wecom.http.close()

    def send(self, claimed: Claim) -> None:
        """Send the claimed message on its channel; raise DeliveryError if it did not go through."""
        settings = self.settings
        if claimed.channel == NotificationChannel.EMAIL:
            send_email(claimed, settings)
        elif claimed.channel == NotificationChannel.WECOM:
            if not claimed.address:
                raise DeliveryError("the recipient has no WeCom userid")
            if not settings.wecom_corp_id or settings.wecom_agent_id is None:
                raise DeliveryError("WeCom app not configured (KEFU_WECOM_CORP_ID, _AGENT_ID)")
            self.wecom().send_app_markdown(
                corp_id=settings.wecom_corp_id,
                agent_id=settings.wecom_agent_id,
                secret=corp_secret(settings),
                userid=claimed.address,
                content=clipped_markdown(claimed, APP_MARKDOWN_LIMIT_BYTES),
            )
        elif claimed.channel == NotificationChannel.WECOM_BOT and claimed.bot_name:
            self.wecom().send_bot_markdown(
                key=bot_key(claimed.bot_name),
                content=clipped_markdown(claimed, BOT_MARKDOWN_LIMIT_BYTES),
            )
        else:
            raise DeliveryError(f"no sender for channel {claimed.channel!r}")


@dataclass(frozen=True)
class Attempt:
    """One send: a claimed message and the burst companions that go out inside it."""

    claimed: Claim
    companions: Sequence[Companion] = ()


def _next_attempt(session: Session, senders: Senders, report: DeliveryReport) -> Attempt | None:
    """Claim the next due message with its group bot's slot or its burst; None if none is due.

    A task notice whose task has closed is skipped, and a group bot's message past its quota
    waits for the next minute; the message after it is claimed instead.
    """
    settings, now = senders.settings, senders.clock()
    while (claimed := claim_next(session, now=now)) is not None:
        if (reason := skip_reason(claimed)) is not None:
            record_skipped(session, claimed, reason, now=now)
            report.skipped += 1
            logger.info("outbox message %s skipped: %s", claimed.message_id, reason)
            continue
        if claimed.channel == NotificationChannel.WECOM_BOT and claimed.bot_name:
            wait_until = take_bot_slot(
                session,
                claimed.bot_name,
                now=now,
                per_minute=settings.wecom_bot_messages_per_minute,
            )
            if wait_until is not None:
                defer(session, claimed, until=wait_until)
                report.deferred += 1
                continue
        elif settings.notify_merge_window_seconds is not None and is_mergeable(claimed):
            hold = timedelta(seconds=settings.notify_merge_window_seconds)
            return Attempt(claimed, claim_companions(session, claimed, now=now, hold=hold))
        return Attempt(claimed)
    return None


def _send(attempt: Attempt, senders: Senders) -> DeliveryError | None:
    """Send the attempt's message; return what went wrong, or None if it went through."""
    claimed, companions = attempt.claimed, attempt.companions
    to_send = merged_claim(claimed, companions, senders.settings) if companions else claimed
    try:
        senders.send(to_send)
    except DeliveryError as error:
        return error
    return None


def _record(
    session: Session,
    attempt: Attempt,
    error: DeliveryError | None,
    senders: Senders,
    report: DeliveryReport,
) -> None:
    """Record how the attempt's send went on its message and its companions."""
    settings, clock = senders.settings, senders.clock
    claimed, parts = attempt.claimed, (attempt.claimed, *attempt.companions)
    if error is None:
        record_sent(session, claimed, now=clock())
        for companion in attempt.companions:
            record_sent(session, companion, now=clock(), merged_into=claimed.message_id)
        report.sent += 1
        report.merged += len(attempt.companions)
        return
    if isinstance(error, DeliveryUncertain):
        for part in parts:
            record_unknown(session, part, str(error))
        state, report.unknown = DeliveryState.UNKNOWN, report.unknown + len(parts)
    else:
        states = [
            record_failure(
                session, part, str(error), now=clock(), max_attempts=settings.outbox_max_attempts
            )
            for part in parts
        ]
        report.dead += states.count(DeliveryState.DEAD)
        report.failed += states.count(DeliveryState.FAILED)
        state = states[0]
    logger.warning(
        "outbox message %s attempt %s %s: %s", claimed.message_id, claimed.attempt, state, error
    )


def _clock(now: datetime | None) -> Callable[[], datetime]:
    # Tests pin the time; a real run reads the clock at each step, so sent_at is when it was sent.
    if now is None:
        return utcnow
    return lambda: now


def deliver_due(
    now: datetime | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    settings: Settings | None = None,
) -> DeliveryReport:
    """Deliver every due outbox message once and return the counts of what happened."""
    settings = settings or get_settings()
    session_factory = session_factory or get_sessionmaker()
    clock = _clock(now)
    report = DeliveryReport()
    with session_factory.begin() as session:
        report.unknown = mark_stale_sends_unknown(
            session, now=clock(), lease=timedelta(seconds=settings.outbox_sending_lease_seconds)
        )
        forget_old_windows(session, now=clock())
    senders = Senders(settings, clock)
    try:
        # One claim per send, committed just before it: a sender killed mid-pass leaves only
        # the message it was sending in "sending", never ones it had not tried yet. Each
        # outcome commits with the next claim, so a message costs one commit, not two. A failed
        # message waits for its backoff, so the pass ends when nothing is due.
        with session_factory.begin() as session:
            attempt = _next_attempt(session, senders, report)
        while attempt is not None:
            error = _send(attempt, senders)
            with session_factory.begin() as session:
                _record(session, attempt, error, senders, report)
                attempt = _next_attempt(session, senders, report)
        return report
    finally:
        senders.close()
