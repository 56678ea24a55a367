"""A real headless Chromium (Debian's package) driving the web inbox of the session's stack."""

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from config.settings import PROJECT_ROOT
from db.base import utcnow
from launch.demo import DEMO_PASSWORD
from launch.embedded import STEP_DEADLINE_SECONDS, Stack
from tests.conftest import CALL_FAILED

SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
FAILURES = PROJECT_ROOT / "test-artifacts" / "failures"
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


@pytest.fixture
def inbox_clock(stack: Stack) -> Iterator[Stack]:
    """The stack, for a test that moves its inbox clock; back on real time afterwards."""
    try:
        yield stack
    finally:
        stack.clock = utcnow


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


@pytest.fixture
def people(
    browser: Browser, stack: Stack, request: pytest.FixtureRequest
) -> Iterator[dict[str, Person]]:
    """Open one browser context per person on demand: `people["zhangmin"]`. When the test fails,
    each person's page is kept in test-artifacts/failures."""

    class Opener(dict[str, Person]):
        def __missing__(self, username: str) -> Person:
            context = browser.new_context(viewport=PHONE, locale="zh-CN")
            person = Person(context, stack.config.api_url, username)
            self[username] = person
            person.log_in()
            return person

    opened = Opener()
    yield opened
    if request.node.stash.get(CALL_FAILED, False):
        FAILURES.mkdir(parents=True, exist_ok=True)
        for person in opened.values():
            person.page.screenshot(
                path=FAILURES / f"{request.node.name}-{person.username}.png", full_page=True
            )
    for person in opened.values():
        person.context.close()
