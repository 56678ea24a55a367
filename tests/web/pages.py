"""What the browser tests do and check as a person would: find and open a task, press submit,
and look at a page (nothing wider than the screen, nothing axe-core calls serious)."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from launch.embedded import eventually
from tests.web.conftest import DESKTOP, PHONE, SCREENSHOTS, Person


def field(path: str) -> str:
    """Return the selector of a step form's field by its dotted path (`items.0.topic`)."""
    return f'[id="f-{path}"]'


def task_row(someone: Person, view: str, search: str, title: str) -> Locator:
    """Reload `view` until the task titled `title` for `search` is listed; return its row."""

    def probe() -> Locator | None:
        someone.page.goto(f"{someone.base_url}/inbox?view={view}&q={search}")
        row = someone.page.locator("[data-testid=task-row]", has_text=title)
        return row.first if row.count() else None

    return eventually(probe, f"{title} in {someone.username}'s {view}")


def open_task(someone: Person, view: str, search: str, title: str) -> str:
    """Open the listed task and return its page address."""
    task_row(someone, view, search, title).locator("a.task-link").click()
    expect(someone.page.get_by_test_id("task-title")).to_contain_text(title)
    return someone.page.url


# How long a click on the submit button may take to send its form.
POST_SENT_MS = 10_000


def submit(someone: Person) -> None:
    """Press the form's submit button, again if the press sent nothing, as a person would.

    In about half of the full runs, once, on the training plan's revise page, Chromium
    took the click on the button, by Playwright's trace the hit target, and sent no request,
    neither htmx's nor, with the form un-boosted, the browser's own post. Nothing reached the
    server, so pressing again cannot record a decision twice.
    """
    page = someone.page
    for _ in range(3):
        try:
            with page.expect_request(lambda r: r.method == "POST", timeout=POST_SENT_MS):
                page.get_by_test_id("submit").click()
            return
        except PlaywrightTimeoutError:
            continue
    pytest.fail("Three presses of the submit button sent no request")


# The innermost elements that reach past the window's right edge, to name the culprit.
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 5)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def assert_fits(page: Page, where: str) -> None:
    """Fail when the page scrolls sideways at the current width."""
    widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    wide = page.evaluate(WIDEST)
    assert widths[0] <= widths[1], f"{where} is {widths[0]} px wide in {widths[1]} px: {wide}"


def keep(someone: Person, name: str) -> None:
    """Keep a screenshot of the page at phone and at desktop width, and check it fits both."""
    page = someone.page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    current = page.viewport_size
    for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        assert_fits(page, f"{name} at {width} width")
    if current:
        page.set_viewport_size(current)


def assert_accessible(page: Page, where: str) -> None:
    """Fail on axe-core's serious or critical violations; check the page's language and h1."""
    results = Axe().run(page)
    violations = [
        f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert violations == [], f"{where}: {violations}"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.locator("h1")).to_have_count(1)
