"""A local HTTP server that answers like WeCom's API, for the tests and the benchmark.

It issues access tokens, accepts app messages and group-robot posts, keeps what it received,
and answers with whatever errcodes a test scripts (WeCom answers HTTP 200 with an errcode).
"""

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_PATH = "/cgi-bin/gettoken"
APP_SEND_PATH = "/cgi-bin/message/send"
BOT_SEND_PATH = "/cgi-bin/webhook/send"
TOKEN_LIFETIME_SECONDS = 7200
OK = {"errcode": 0, "errmsg": "ok"}
# A stalled request is answered at the latest after this, so a failed test cannot hang.
STALL_LIMIT_SECONDS = 10


@dataclass(frozen=True)
class Received:
    path: str
    query: dict[str, str]
    body: dict[str, Any]

    @property
    def content(self) -> str:
        """Return the markdown content of a message."""
        return str(self.body["markdown"]["content"])


class WeComPeer:
    """What the fake WeCom received, and the answers it will give next."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.tokens_issued = 0
        self._scripted: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        self._stalled: set[str] = set()
        # Set when the test is done with a stalled request, so its handler thread can finish.
        self.release = threading.Event()
        self.url = ""

    def stall_next(self, path: str) -> None:
        """Make the next request to `path` be received but not answered until `release` is set."""
        with self.lock:
            self._stalled.add(path)

    def answer_next(self, path: str, *answers: dict[str, Any], status: int = 200) -> None:
        """Make the next requests to `path` get these answers, in order, then OK again."""
        with self.lock:
            queue = self._scripted.setdefault(path, deque())
            queue.extend((status, answer) for answer in answers)

    def messages(self, path: str | None = None) -> list[Received]:
        """Return the messages received (app and bot, or one path), oldest first."""
        with self.lock:
            return [
                r
                for r in self.received
                if r.path != TOKEN_PATH and (path is None or r.path == path)
            ]

    def _answer(self, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            scripted = self._scripted.get(path)
            status, answer = scripted.popleft() if scripted else (200, None)
            if answer is None and path == TOKEN_PATH:
                self.tokens_issued += 1
                answer = {
                    **OK,
                    "access_token": f"token-{self.tokens_issued}",
                    "expires_in": TOKEN_LIFETIME_SECONDS,
                }
            self.received.append(Received(path, query, body))
            stall = path in self._stalled
            self._stalled.discard(path)
        if stall:
            self.release.wait(STALL_LIMIT_SECONDS)
        return status, answer or OK


def _handler(peer: WeComPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm and the client's
        # delayed ACK each keep-alive answer would wait ~40 ms.
        disable_nagle_algorithm = True

        def _reply(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            status, answer = peer._answer(parts.path, query, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _reply
        do_POST = _reply

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def running_wecom_peer() -> Iterator[WeComPeer]:
    """Run a fake WeCom on 127.0.0.1 (a free port) until the block ends."""
    peer = WeComPeer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(peer))
    server.daemon_threads = True
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        peer.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
