"""Security headers on pages and API answers, no inline script in the pages, and the API docs
served from the installed package (offline), and not at all in production."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config import get_settings
from config.settings import TEMPLATES_DIR


def build_app(monkeypatch: pytest.MonkeyPatch, **environment: str) -> Iterator[FastAPI]:
    """Yield the application built with `environment` set, and the settings restored after."""
    from inbox.api.app import create_app

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    app = create_app()
    monkeypatch.undo()
    get_settings.cache_clear()
    yield app


@pytest.fixture
def client(demo_org: None) -> TestClient:
    from inbox.api.app import create_app

    return TestClient(create_app())


def script_sources(policy: str) -> list[str]:
    [directive] = [d.strip() for d in policy.split(";") if d.strip().startswith("script-src")]
    return directive.split()[1:]


def test_pages_and_api_answers_carry_the_security_headers(client: TestClient) -> None:
    for path in ("/login", "/api/v1/tasks", "/static/app.css"):
        headers = client.get(path).headers
        assert script_sources(headers["Content-Security-Policy"]) == ["'self'"], path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        # Served on http here: HSTS would be ignored at best.
        assert "Strict-Transport-Security" not in headers


def test_https_deployments_ask_for_https_only(
    demo_org: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    [app] = build_app(monkeypatch, KEFU_PUBLIC_BASE_URL="https://kefu.example.com")
    headers = TestClient(app).get("/healthz").headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_no_page_template_has_an_inline_script() -> None:
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", re.IGNORECASE)
    offenders = [
        f"{template.name}: {found.group(0)}"
        for template in sorted(Path(TEMPLATES_DIR / "web").rglob("*.html"))
        for found in inline.finditer(template.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_their_scripts_and_styles_from_this_server(
    client: TestClient, page: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert any(asset.endswith(".js") for asset in assets)
    assert not re.search(r"https?://", response.text)
    for asset in assets:
        assert asset.startswith("/"), asset
        assert client.get(asset).status_code == 200, asset
    # The one inline script of Swagger UI is allowed by its hash, not by 'unsafe-inline'.
    sources = script_sources(response.headers["Content-Security-Policy"])
    assert "'unsafe-inline'" not in sources
    if page == "/docs":
        assert len(sources) == 2 and sources[1].startswith("'sha256-")


def test_production_does_not_serve_the_api_docs(
    demo_org: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    [app] = build_app(
        monkeypatch, KEFU_ENVIRONMENT="production", KEFU_SECRET_KEY="a-production-secret-key"
    )
    client = TestClient(app)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404, path
    assert client.get("/healthz").status_code == 200
