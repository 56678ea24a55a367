"""Benchmark: notifications through the outbox to local sinks, checked for loss and duplicates.

Queues WeCom person messages and emails for distinct people in a fresh SQLite database, delivers
them with concurrent senders (as separate sender processes would) to a local WeCom-like HTTP
server and a local SMTP server, then counts what the sinks received against the rows. A baseline
sends the same kind of messages directly, without the outbox, in the same run.
"""

import os
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apprise
import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.migrate import upgrade
from db.models import DeliveryState, NotificationPreference, OutboxMessage, Site, User
from db.session import make_engine
from notify.delivery import APPRISE_APP_ID, DeliveryReport, deliver_due, email_url
from notify.outbox import enqueue
from tests.notify.wecom_peer import APP_SEND_PATH, WeComPeer, running_wecom_peer

WECOM_MESSAGES = 9_880
EMAIL_MESSAGES = 120
BASELINE_WECOM = 500
BASELINE_EMAILS = 30
SENDERS = 2
ENQUEUE_CHUNK = 500
CORP_SECRET = "bench-corp-secret"
CONTEXT = {"step_title": "经理审批", "process_subject": "3栋1201 漏水投诉", "due_at": None}
HTML_BODY = "<p>李娜，您好：</p><p>您有一项新的待办任务需要处理。</p>"


class _CountingSink:
    """An SMTP handler that counts what arrives per recipient."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_recipient: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        with self.lock:
            self.by_recipient.update(envelope.rcpt_tos)
        return "250 OK"


@contextmanager
def _smtp_sink() -> Iterator[tuple[_CountingSink, int]]:
    sink = _CountingSink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    # A fixed server name: aiosmtpd would otherwise look up the host's name on every connection.
    controller = Controller(sink, hostname="127.0.0.1", port=port, server_hostname="sink.local")
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Phase:
    count: int
    queue_seconds: float
    deliver_seconds: float
    report: DeliveryReport


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def _add_people(
    factory: sessionmaker[Session], site_id: int, prefix: str, count: int, wecom: bool
) -> list[int]:
    with factory.begin() as session:
        people = [
            User(
                username=f"{prefix}{n}",
                display_name="李娜",
                password_hash="!",
                site_id=site_id,
                email=None if wecom else f"{prefix}{n}@example.cn",
            )
            for n in range(count)
        ]
        session.add_all(people)
        session.flush()
        if wecom:
            session.add_all(
                NotificationPreference(user_id=p.id, wecom_userid=p.username) for p in people
            )
        return [p.id for p in people]


def _queue(factory: sessionmaker[Session], ids: list[int], settings: Settings, key: str) -> None:
    for start in range(0, len(ids), ENQUEUE_CHUNK):
        with factory.begin() as session:
            chunk = ids[start : start + ENQUEUE_CHUNK]
            people = session.scalars(select(User).where(User.id.in_(chunk))).all()
            enqueue(
                session,
                event="task_assigned",
                recipients=people,
                context=CONTEXT,
                dedup_key=f"{key}:{start}",
                settings=settings,
            )


def _deliver_concurrently(factory: sessionmaker[Session], settings: Settings) -> DeliveryReport:
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(SENDERS)

    def sender() -> None:
        try:
            start.wait()
            reports.append(deliver_due(session_factory=factory, settings=settings))
        except BaseException as error:  # re-raised on the benchmark's thread
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    total = DeliveryReport()
    for report in reports:
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(report, name))
    return total


def _phase(factory: sessionmaker[Session], ids: list[int], settings: Settings, key: str) -> Phase:
    began = time.perf_counter()
    _queue(factory, ids, settings, key)
    queued = time.perf_counter()
    report = _deliver_concurrently(factory, settings)
    return Phase(len(ids), queued - began, time.perf_counter() - queued, report)


def _timed(send: Callable[[int], None], count: int) -> float:
    began = time.perf_counter()
    for n in range(count):
        send(n)
    return time.perf_counter() - began


def _baseline_email(smtp_url: str, settings: Settings) -> float:
    """Return emails per second sent straight through Apprise, a fresh object per send."""

    def send(n: int) -> None:
        notifier = apprise.Apprise(asset=apprise.AppriseAsset(app_id=APPRISE_APP_ID))
        notifier.add(
            email_url(smtp_url, to=f"base{n}@example.cn", mail_from=settings.mail_from,
                      body_format="html")
        )  # fmt: skip
        if not notifier.notify(title="【待办】经理审批", body=HTML_BODY, body_format="html"):
            raise RuntimeError("baseline email not accepted")

    return _rate(BASELINE_EMAILS, _timed(send, BASELINE_EMAILS))


def _baseline_wecom(peer: WeComPeer) -> float:
    """Return WeCom app messages per second posted straight with one HTTP client."""
    with httpx.Client() as http:
        token = http.get(f"{peer.url}/cgi-bin/gettoken").json()["access_token"]

        def send(n: int) -> None:
            body = {
                "touser": f"base{n}",
                "msgtype": "markdown",
                "agentid": 1,
                "markdown": {"content": "**【待办】经理审批**"},
            }
            answer = http.post(
                f"{peer.url}{APP_SEND_PATH}", params={"access_token": token}, json=body
            ).json()
            if answer["errcode"] != 0:
                raise RuntimeError("baseline WeCom message refused")

        return _rate(BASELINE_WECOM, _timed(send, BASELINE_WECOM))


def _check(
    factory: sessionmaker[Session], received: Counter[str], expected: set[str]
) -> tuple[int, int, dict[str, int]]:
    """Return (lost, duplicated, row states) comparing what a sink got with what it should."""
    lost = len(expected - set(received))
    duplicated = sum(count - 1 for address, count in received.items() if address in expected)
    with factory() as session:
        states = dict(
            session.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            ).all()
        )
    return lost, duplicated, {str(state): int(count) for state, count in states.items()}


def run() -> list[str]:
    """Return the benchmark's report lines."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        _smtp_sink() as (sink, smtp_port),
        running_wecom_peer() as peer,
    ):
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = sessionmaker(engine, expire_on_commit=False)
        smtp_url = f"mailto://127.0.0.1:{smtp_port}"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url=url,
            smtp_url=smtp_url,
            mail_from="kefu@example.cn",
            wecom_api_base_url=peer.url,
            wecom_corp_id="ww-bench",
            wecom_agent_id=1,
            wecom_corp_secret=CORP_SECRET,
            # No quiet hours: the benchmark runs whenever it is started. No merging either: it
            # counts each of the 10,000 messages arriving on its own.
            quiet_hours_start=None,
            quiet_hours_end=None,
            notify_merge_window_seconds=None,
        )
        with factory.begin() as session:
            site = Site(code="BENCH", name="压测小区")
            session.add(site)
            session.flush()
            site_id = site.id
        wecom_ids = _add_people(factory, site_id, "wx", WECOM_MESSAGES, wecom=True)
        email_ids = _add_people(factory, site_id, "mail", EMAIL_MESSAGES, wecom=False)

        base_wecom = _baseline_wecom(peer)
        base_email = _baseline_email(smtp_url, settings)
        wecom = _phase(factory, wecom_ids, settings, "bench-wecom")
        email = _phase(factory, email_ids, settings, "bench-email")

        wecom_received = Counter(
            r.body["touser"]
            for r in peer.messages(APP_SEND_PATH)
            if not str(r.body["touser"]).startswith("base")
        )
        email_received = Counter(
            {k: v for k, v in sink.by_recipient.items() if k.startswith("mail")}
        )
        lost_w, dup_w, _ = _check(
            factory, wecom_received, {f"wx{n}" for n in range(len(wecom_ids))}
        )
        lost_e, dup_e, states = _check(
            factory, email_received, {f"mail{n}@example.cn" for n in range(len(email_ids))}
        )
        engine.dispose()

    total = wecom.count + email.count
    total_seconds = wecom.deliver_seconds + email.deliver_seconds
    base_seconds = wecom.count / base_wecom + email.count / base_email
    rows_sent = states.get(DeliveryState.SENT.value, 0)
    queue_rate = _rate(total, wecom.queue_seconds + email.queue_seconds)
    overall_rate = _rate(total, total_seconds)
    return [
        f"notify outbox: {total:,} notifications ({wecom.count:,} WeCom app messages to a local"
        f" WeCom-like HTTP server, {email.count:,} HTML emails via Apprise to local aiosmtpd),"
        f" SQLite, {SENDERS} concurrent senders, cpu count {os.cpu_count()}",
        f"  queue (enqueue, render, sign links): {queue_rate:,.0f} rows/s",
        f"  WeCom via outbox: {_rate(wecom.count, wecom.deliver_seconds):,.1f} msg/s"
        f"  | baseline direct httpx: {base_wecom:,.1f} msg/s"
        f"  | ratio {_rate(wecom.count, wecom.deliver_seconds) / base_wecom:.2f}x",
        f"  email via outbox: {_rate(email.count, email.deliver_seconds):,.1f} msg/s"
        f"  | baseline direct Apprise (1 sender): {base_email:,.1f} msg/s"
        f"  | ratio {_rate(email.count, email.deliver_seconds) / base_email:.2f}x",
        f"  all {total:,} delivered in {total_seconds:.1f} s = {overall_rate:,.1f} msg/s"
        f"  (the same mix sent directly: {base_seconds:.1f} s; ratio"
        f" {base_seconds / total_seconds:.2f}x)",
        f"  rows: {states}; reports: WeCom {wecom.report}, email {email.report}",
        f"  lost: {lost_w + lost_e}  duplicated: {dup_w + dup_e}"
        f"  (sinks received {sum(wecom_received.values()) + sum(email_received.values()):,}"
        f" for {rows_sent:,} rows sent)",
        "  group bots not benchmarked here: WeCom allows 20 messages a minute per bot.",
    ]


if __name__ == "__main__":
    print("\n".join(run()))  # noqa: T201
