"""A JSON or form body that is not UTF-8 is refused with a 422 that says so in Chinese, naming
the field (or the byte of a JSON body), and nothing is written; never a bare 400 or a 500."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from db.models import Process, SavedView, TaskAttachment, User
from db.session import transaction
from inbox.storable_input import Utf8Body
from launch.demo import DEMO_PASSWORD
from tests.support.web import csrf_of, logged_in

COMPLAINT = {
    "resident_name": "王先生",
    "unit": "3-1-502",
    "contact_phone": "13800138000",
    "channel": "phone",
    "category": "noise",
    "urgency": "general",
    "description": "楼上深夜装修噪音",
}
# "王" is E7 8E 8B in UTF-8; cut after two bytes and followed by FF it is no text at all.
BROKEN_NAME = b"\xe7\x8e\xff"
FORM = "application/x-www-form-urlencoded"
NOT_UTF8 = "请求内容不是有效的 UTF-8 编码文本"


@pytest.fixture(scope="module")
def app(demo_org: None) -> FastAPI:
    from inbox.api.app import create_app

    return create_app()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        login = client.post(
            "/api/v1/auth/token", data={"username": "lihua", "password": DEMO_PASSWORD}
        )
        client.headers.update(
            {"Authorization": f"Bearer {login.json()['access_token']}", "Accept-Language": "zh-CN"}
        )
        yield client


def count(model: Any) -> int:
    with transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def refusal(response: Any) -> tuple[str, list[tuple[str, str]]]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    return error["message"], [(f["field"], f["message"]) for f in error["fields"]]


def test_a_json_body_that_is_not_utf8_is_refused_naming_the_byte(client: TestClient) -> None:
    body = json.dumps(COMPLAINT, ensure_ascii=False).encode()
    broken = body.replace("王先生".encode(), BROKEN_NAME)
    # Counted from 1: the byte that starts the sequence that cannot be decoded.
    position = broken.index(BROKEN_NAME) + 1
    before = count(Process)

    for content_type in ("application/json", "application/json; charset=utf-8"):
        response = client.post(
            "/api/v1/complaints", content=broken, headers={"Content-Type": content_type}
        )
        assert refusal(response) == (
            NOT_UTF8,
            [("body", f"请求内容: 必须是有效的 UTF-8 编码文本：第 {position} 个字节无法解码")],
        )
    assert count(Process) == before


def test_a_json_body_cut_inside_a_character_is_refused_at_its_end(client: TestClient) -> None:
    # A character whose last byte never comes: only the end of the body shows it.
    body = b'{"wecom_userid": "zhang' + "王".encode()[:2]
    response = client.patch(
        "/api/v1/me/notifications", content=body, headers={"Content-Type": "application/json"}
    )
    assert refusal(response)[1] == [
        ("body", f"请求内容: 必须是有效的 UTF-8 编码文本：第 {len(body) - 1} 个字节无法解码")
    ]


@pytest.mark.parametrize(
    "password",
    [b"kefu%FF", b"kefu\xff", b"kefu%E7%8E"],
    ids=["escaped", "raw", "cut-character"],
)
def test_a_form_field_that_is_not_utf8_is_refused_by_name(
    client: TestClient, password: bytes
) -> None:
    with transaction() as session:
        failed_before = session.scalar(select(User.failed_logins).where(User.username == "zhoupin"))
    response = client.post(
        "/api/v1/auth/token",
        content=b"username=zhoupin&password=" + password,
        headers={"Content-Type": FORM},
    )
    assert refusal(response) == (
        NOT_UTF8,
        [("password", "password: 必须是有效的 UTF-8 编码文本（含有无法解码的字节）")],
    )
    # Refused before the login ran: not even a failed attempt is counted.
    with transaction() as session:
        assert (
            session.scalar(select(User.failed_logins).where(User.username == "zhoupin"))
            == failed_before
        )


def test_a_web_form_that_is_not_utf8_gets_a_page_in_chinese_and_saves_nothing(
    app: FastAPI,
) -> None:
    browser = logged_in(app, "lihua")
    token = csrf_of(browser, "/inbox")
    before = count(SavedView)
    response = browser.post(
        "/inbox/views",
        content=f"csrf_token={token}&query=state%3Dopen&name=".encode() + b"%E7%8E%FF",
        headers={"Content-Type": FORM},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert NOT_UTF8 in response.text and "name" in response.text
    assert count(SavedView) == before
    # The same form in good UTF-8 is saved: the refusal is about the bytes, not the form.
    saved = browser.post(
        "/inbox/views",
        data={"csrf_token": token, "query": "state=open", "name": "我的待办"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert count(SavedView) == before + 1


def test_utf8_is_checked_across_chunk_boundaries() -> None:
    text = json.dumps({"name": "王先生"}, ensure_ascii=False).encode()
    # Each chunk ends inside a character; together they are good UTF-8.
    check = Utf8Body("json")
    chunks = [text[:11], text[11:14], text[14:]]
    assert [check.feed(c, final=i == len(chunks) - 1) for i, c in enumerate(chunks)] == [[]] * 3
    broken = Utf8Body("json")
    assert broken.feed(text[:11], final=False) == []
    [problem] = broken.feed(b"\xff", final=True)
    # Byte 11 (E7) began a character that the next byte (FF) cannot continue.
    assert problem.params == {"position": 11}


def multipart(*parts: tuple[bytes, bytes | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """Return a multipart body of (name, filename or None, content) parts, and its header."""
    boundary = b"kefu-boundary-7MA4YWxkTrZu0gW"
    body = b""
    for name, filename, content in parts:
        disposition = b'form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        body += b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        if filename is not None:
            body += b"Content-Type: image/jpeg\r\n"
        body += b"\r\n" + content + b"\r\n"
    body += b"--" + boundary + b"--\r\n"
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}


def test_a_multipart_form_is_checked_field_by_field_and_its_files_never(app: FastAPI) -> None:
    browser = logged_in(app, "lihua")
    token = csrf_of(browser, "/inbox").encode()
    views_before, attachments_before = count(SavedView), count(TaskAttachment)

    # A text field that is not UTF-8: Starlette would have stored it as Latin-1 look-alikes.
    body, headers = multipart(
        (b"csrf_token", None, token), (b"query", None, b"state=open"), (b"name", None, BROKEN_NAME)
    )
    response = browser.post("/inbox/views", content=body, headers=headers)
    assert response.status_code == 422
    assert NOT_UTF8 in response.text and "name" in response.text
    assert count(SavedView) == views_before

    # A photo named in GBK by an old client: refused by the field's name, before the upload.
    gbk_name = "照片.jpg".encode("gbk")
    body, headers = multipart(
        (b"csrf_token", None, token), (b"file", gbk_name, b"\xff\xd8\xff\xe0 jpeg bytes \xff")
    )
    response = browser.post("/tasks/1/attachments", content=body, headers=headers)
    assert response.status_code == 422
    assert NOT_UTF8 in response.text and "file" in response.text
    assert count(TaskAttachment) == attachments_before

    # A file's own bytes are not text: the same form with them in it is taken as it is.
    body, headers = multipart(
        (b"csrf_token", None, token),
        (b"query", None, b"state=open"),
        (b"name", None, "照片视图".encode()),
        (b"extra", "照片.jpg".encode(), b"\xff\xd8\xff\xe0 jpeg bytes \xff"),
    )
    saved = browser.post("/inbox/views", content=body, headers=headers, follow_redirects=False)
    assert saved.status_code == 303
    assert count(SavedView) == views_before + 1
