"""Signed, expiring links to tasks and cases, and the secret key that signs them."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from config import Settings
from notify.links import (
    InvalidTaskLink,
    process_link_url,
    sign_process_link,
    sign_task_link,
    task_link_url,
    verify_link,
)

Make = Callable[..., Settings]
T0 = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)


def test_a_link_names_its_task_until_it_expires(make_settings: Make) -> None:
    settings = make_settings(secret_key="k" * 32, task_link_max_age_days=14)
    token = sign_task_link(42, now=T0, settings=settings)

    assert verify_link(token, now=T0 + timedelta(days=13), settings=settings) == "/tasks/42"
    with pytest.raises(InvalidTaskLink, match="expired"):
        verify_link(token, now=T0 + timedelta(days=14), settings=settings)


def test_an_altered_or_foreign_link_is_refused(make_settings: Make) -> None:
    settings = make_settings(secret_key="k" * 32)
    token = sign_task_link(42, now=T0, settings=settings)
    other_key = make_settings(secret_key="z" * 32)

    with pytest.raises(InvalidTaskLink):
        verify_link(token[:-2] + "xx", now=T0, settings=settings)
    with pytest.raises(InvalidTaskLink):
        verify_link(token, now=T0, settings=other_key)
    with pytest.raises(InvalidTaskLink):
        verify_link("not-a-token", now=T0, settings=settings)


def test_the_url_points_at_the_public_site(make_settings: Make) -> None:
    settings = make_settings(public_base_url="https://kefu.example.cn/")

    url = task_link_url(7, now=T0, settings=settings)

    assert url.startswith("https://kefu.example.cn/t/")
    assert verify_link(url.rsplit("/", 1)[1], now=T0, settings=settings) == "/tasks/7"


def test_a_case_link_names_the_case_page_and_expires_alike(make_settings: Make) -> None:
    settings = make_settings(secret_key="k" * 32, task_link_max_age_days=14)
    token = sign_process_link("3f1c9a", now=T0, settings=settings)

    assert verify_link(token, now=T0, settings=settings) == "/processes/3f1c9a"
    with pytest.raises(InvalidTaskLink, match="expired"):
        verify_link(token, now=T0 + timedelta(days=14), settings=settings)
    url = process_link_url("3f1c9a", now=T0, settings=settings)
    assert verify_link(url.rsplit("/", 1)[1], now=T0, settings=settings) == "/processes/3f1c9a"


def test_production_refuses_the_default_secret_key() -> None:
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]

    production = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        secret_key="a-long-random-production-key",
    )
    assert production.secret_key.get_secret_value() == "a-long-random-production-key"
