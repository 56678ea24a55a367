"""A browser-like client of the web inbox: logs in through the real form with its CSRF token."""

import re

import httpx
from fastapi.testclient import TestClient

from launch.demo import DEMO_PASSWORD


def csrf_of(client: httpx.Client, path: str) -> str:
    """Return the CSRF token of the form on the page at `path`."""
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def logged_in(app: object, username: str, password: str = DEMO_PASSWORD) -> TestClient:
    """Return a client with a session for `username`, as after the login form."""
    client = TestClient(app)  # type: ignore[arg-type]
    token = csrf_of(client, "/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.url.path == "/inbox", response.text
    return client
