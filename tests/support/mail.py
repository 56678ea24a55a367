"""A real SMTP server on 127.0.0.1 for the tests, keeping every message it receives."""

import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class MailSink:
    """An aiosmtpd server; `received(to)` lists what arrived for one address."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def received(self, to: str) -> list[EmailMessage]:
        """Return the messages delivered to `to`, oldest first."""
        with self._collector.lock:
            return [m for m in self._collector.messages if to in str(m["To"])]

    def message_ids(self) -> Counter[str]:
        """Return how often each Message-ID arrived."""
        with self._collector.lock:
            return Counter(str(m["Message-ID"]) for m in self._collector.messages)
