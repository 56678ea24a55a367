"""Request bodies on the real server: refused past their limit and, unless logged in, before a
byte of them is read (the client here sends the headers and keeps the body back)."""

import http.client
import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from config import get_settings
from launch.demo import DEMO_PASSWORD
from launch.embedded import eventually
from launch.processes import free_port

# Long enough for a loaded machine; a server waiting for a body never answers within it.
RESPONSE_DEADLINE_SECONDS = 20
HUGE = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def port(demo_org: None) -> Iterator[int]:
    """The inbox application served by uvicorn on a free port of 127.0.0.1."""
    from inbox.api.app import create_app

    chosen = free_port()
    config = uvicorn.Config(
        create_app(),
        host="127.0.0.1",
        port=chosen,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, "the inbox server to start")
    yield chosen
    server.should_exit = True
    thread.join()


@pytest.fixture(scope="module")
def token(port: int) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/token",
        data={"username": "zhangmin", "password": DEMO_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def send_head(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send a request's headers (and `body`, perhaps only the start of it); return the response."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=RESPONSE_DEADLINE_SECONDS)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Accept-Language: en"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    response = http.client.HTTPResponse(connection)
    response.begin()
    payload = response.read()
    connection.close()
    return response.status, response.headers, payload


def test_a_body_declared_too_large_is_refused_before_it_is_sent(port: int, token: str) -> None:
    status, _, payload = send_head(
        port,
        "POST",
        "/api/v1/complaints",
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Length": str(HUGE),
        },
    )
    assert status == 413
    limit = get_settings().max_request_bytes
    assert json.loads(payload)["error"] == {
        "code": "payload_too_large",
        "message": f"The request is too large: at most {limit:,} bytes are accepted",
    }


def test_an_anonymous_body_is_refused_before_it_is_read(port: int) -> None:
    # Within the limit, streamed without a declared length: only the first chunk is sent.
    first_chunk = b'{"resident_name": "' + b"x" * 1000
    status, headers, payload = send_head(
        port,
        "POST",
        "/api/v1/complaints",
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        f"{len(first_chunk):x}\r\n".encode() + first_chunk + b"\r\n",
    )
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(payload)["error"]["code"] == "not_authenticated"


def test_a_forged_token_is_refused_before_the_body_is_read(port: int) -> None:
    status, _, _ = send_head(
        port,
        "PATCH",
        "/api/v1/me/notifications",
        {
            "Authorization": "Bearer forged",
            "Content-Type": "application/json",
            "Content-Length": "500000",
        },
    )
    assert status == 401


def test_an_anonymous_upload_is_sent_to_the_login_before_it_is_read(port: int) -> None:
    status, headers, _ = send_head(
        port,
        "POST",
        "/tasks/1/attachments",
        {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(5 * 1024 * 1024)},
    )
    assert status == 303
    assert headers["Location"] == "/login?next=/tasks/1/attachments"


def test_a_streamed_body_is_cut_off_at_the_limit(port: int, token: str) -> None:
    limit = get_settings().max_request_bytes
    chunk = b" " * (64 * 1024)
    chunks = b"".join(
        f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(limit // len(chunk) + 1)
    )
    status, _, payload = send_head(
        port,
        "POST",
        "/api/v1/complaints",
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
        chunks,
    )
    assert status == 413
    assert json.loads(payload)["error"]["code"] == "payload_too_large"


def test_a_body_within_the_limit_from_a_logged_in_client_is_read(port: int, token: str) -> None:
    response = httpx.patch(
        f"http://127.0.0.1:{port}/api/v1/me/notifications",
        json={"email_enabled": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["email_enabled"] is True
