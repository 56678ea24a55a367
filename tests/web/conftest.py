"""A real headless Chromium (Debian's package) driving the web inbox of the session's stack."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from config.settings import PROJECT_ROOT
from launch.demo import DEMO_PASSWORD
from launch.embedded import STEP_DEADLINE_SECONDS, Stack

SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# A completion waits for its flow run to suspend and resume; the page follows when it is done.
expect.set_options(timeout=STEP_DEADLINE_SECONDS * 1000)


def chromium_path() -> str:
    """Return Debian's chromium (Playwright's own browser download does not work here)."""
    path = os.environ.get("KEFU_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def app(demo_org: None) -> object:
    """The inbox application in this process, for page tests without a browser."""
    from inbox.api.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield launched
        launched.close()


class Person:
    """One person at a browser: a page logged in to the inbox."""

    def __init__(self, context: BrowserContext, base_url: str, username: str) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.page.set_default_timeout(STEP_DEADLINE_SECONDS * 1000)
        self.base_url = base_url
        self.username = username

    def log_in(self, password: str = DEMO_PASSWORD) -> None:
        self.page.goto(f"{self.base_url}/login")
        self.page.fill("input[name=username]", self.username)
        self.page.fill("input[name=password]", password)
        self.page.click("button.primary")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def people(browser: Browser, stack: Stack) -> Iterator[dict[str, Person]]:
    """Open one browser context per person on demand: `people_at("zhangmin")`."""
    opened: dict[str, Person] = {}
    contexts: list[BrowserContext] = []

    class Opener(dict[str, Person]):
        def __missing__(self, username: str) -> Person:
            context = browser.new_context(viewport=PHONE, locale="zh-CN")
            contexts.append(context)
            person = Person(context, stack.config.api_url, username)
            person.log_in()
            self[username] = person
            return person

    yield Opener(opened)
    for context in contexts:
        context.close()
