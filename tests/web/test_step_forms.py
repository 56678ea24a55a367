"""Every human step of every process, and every start form, in a real Chromium at phone width.

Generated from the step catalogue (flows.catalog.STEPS) and the intakes (inbox.intake.INTAKES):
a new step is covered without a new test. For each form the test derives a valid example and a
broken one from the pydantic model (field types, constraints, choices, list rows), trying the
choices in turn until the model itself accepts the example. It opens the step's task directly
in the database, held by a person of the step's role, and that person, logged in at 390 px in
Chinese:
  - sees the form, in Chinese;
  - submits the broken example: the field shows a Chinese error beside it (aria-invalid), the
    error summary takes the focus, and every other field keeps what was typed;
  - corrects it: the inbox says "已完成" (a start form opens the new process), and the task
    records exactly the example.

No Prefect: the inbox runs on its own, and its Prefect API is a stand-in that knows no flow run
and no deployment, so completing a task (which has no flow run) records the hand-back for the
sweep to retry, and a started process waits for the sweep to create its run. A closed port would
do the same, but each call would then take 1.6 s (Prefect's client retries a refused connection
three times, not configurably): 40 s of this test's time.
"""

import importlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, Response, expect
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from sqlalchemy import select, update
from starlette.datastructures import FormData

from config import get_settings
from db.base import utcnow
from db.models import InboxTask, Process, ProcessKind, ProcessState, Role, TaskState
from db.models.complaint import Category, Urgency
from db.session import transaction
from domain.people import revoke_tokens
from domain.steps import HumanStep
from domain.validation import problems_from
from flows.catalog import STEPS
from inbox.intake import INTAKES
from inbox.web.form_fields import BLANK, LISTED_FIELDS, PERSON_FIELDS, SITE_FIELDS, parse_submission
from launch.demo import DEMO_PASSWORD, DEMO_PEOPLE
from launch.processes import ProcessGroup, answers, free_port
from tests.support.factories import complaint_task, new_staff, person, step_task
from tests.web.conftest import PHONE, Person
from tests.web.pages import assert_fits

# What a person types, picks or ticks in one field: text (or a single choice), several choices
# (or tags), a tick; None leaves the field empty.
Value = str | tuple[str, ...] | bool | None
Example = dict[str, Value]

# A handover item the round lists, as the flow puts it in the task's context.
LISTED_ITEM = {"item_id": 7, "description": "消防通道钥匙", "category": "keys", "location": ""}


@dataclass(frozen=True)
class Override:
    """Business data a step's valid example cannot be derived without."""

    context: dict[str, Any] = field(default_factory=dict)  # what the flow shows with the task
    values: Example = field(default_factory=dict)


# Keep this small: only where the model alone cannot say what a valid decision is.
OVERRIDES: dict[str, Override] = {
    # A verdict is checked against the round's listed items: it must name each of them.
    "resignation.confirm-items": Override(
        {"items": [LISTED_ITEM]}, {"verdicts.0.item_id": str(LISTED_ITEM["item_id"])}
    ),
    "resignation.resolve-disputes": Override(
        {"items": [LISTED_ITEM]}, {"resolutions.0.item_id": str(LISTED_ITEM["item_id"])}
    ),
}

# A step nobody decides by role goes to the person the flow names (the successor, a
# department's engineer): any colleague, here one at the front desk.
NAMED_PERSON_ROLE = Role.STAFF
# Dates a form asks for: ahead, as a start date or a last working day must be.
SOME_DAY = date.today() + timedelta(days=45)
SOME_TIME = time(9, 30)
SAMPLE_PHONE = "13800138000"
# Tries of the next choice of a refused field before giving up on a form.
MAX_TRIES = 50
# Every page answers at once (the Prefect stand-in too); generous for a loaded machine.
PAGE_TIMEOUT_MS = 20_000
# The product's own name, in every page's title.
PRODUCT_NAME = "kefu-flow"
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Text a person reads on a form's page: its title and heading, the tabs of the start page, and
# the form's labels, choices, help and errors; people's names are data.
PAGE_TEXT = """([form, people]) => [document.title, ...[...document.querySelectorAll(
    'h1, nav.tabs a')].map(e => e.textContent), ...[...form.querySelectorAll(
    'label, legend, option, .help, .error-text, .error-summary, button, h2, h3')]
  .filter(e => !e.closest('template'))
  .filter(e => !(e.tagName === 'OPTION' && people.includes(e.parentElement.name.split('.').pop())))
  .map(e => e.textContent)].map(t => t.trim()).filter(Boolean)"""


def _step_kinds() -> dict[str, ProcessKind]:
    """Return the process kind of every step, from the flow module that declares it."""
    kinds = {}
    for kind in ProcessKind:
        for step in getattr(importlib.import_module(f"flows.{kind.value}"), "STEPS", ()):
            kinds[step.name] = kind
    return kinds


STEP_KINDS = _step_kinds()


# Fields whose choices are records (people, sites) or that name a listed entry: no number is
# typed in them, and their options are data, not words of the page.
NAMED_FIELDS = PERSON_FIELDS | SITE_FIELDS | LISTED_FIELDS


class NoExample(Exception):
    """The form model alone does not say how to fill a field."""


# -- examples derived from the form models -------------------------------------------------


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    args = get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _list_item(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is list else None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _choices(annotation: Any) -> list[str] | None:
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(m.value) for m in annotation]
    return None


def _constraint(info: FieldInfo, name: str) -> Any:
    return next(
        (getattr(m, name) for m in info.metadata if getattr(m, name, None) is not None), None
    )


def _number(info: FieldInfo) -> str:
    """Return a number inside the field's bounds (their middle when both are given)."""
    ge, gt, le, lt = (_constraint(info, n) for n in ("ge", "gt", "le", "lt"))
    low = ge if ge is not None else (gt + 1 if gt is not None else 1)
    high = le if le is not None else (lt - 1 if lt is not None else None)
    low = max(low, 1) if high is None or high >= 1 else low
    return str(low if high is None else (low + high) // 2)


def _text(info: FieldInfo, path: str, serial: int) -> str:
    pattern = _constraint(info, "pattern")
    if pattern is not None:
        for sample in (SAMPLE_PHONE, f"示例{serial}", SOME_DAY.isoformat()):
            if re.fullmatch(pattern, sample):
                return sample
        raise NoExample(f"{path}: no sample text matches {pattern!r}")
    text = f"示例{serial}"
    longest = _constraint(info, "max_length") or len(text)
    return (text * (_constraint(info, "min_length") or 1))[:longest]


def candidates(
    form: type[BaseModel],
    colleague_id: int,
    given: Example,
    fill_optional: bool,
    prefix: str = "",
    options: dict[str, list[Value]] | None = None,
) -> dict[str, list[Value]]:
    """Return, per field path, the values to try in turn (None: leave it empty).

    Every field starts filled, and a list of rows gets one row; with `fill_optional` false a
    field that may be None starts empty (a start form's service fills it in, "my own site",
    and checks what is given against the organisation). A value `given` for a path (an
    override) is the only one tried.
    """
    options = {} if options is None else options
    for name, info in form.model_fields.items():
        path = f"{prefix}{name}"
        annotation, nullable = _unwrap(info.annotation)
        item = _list_item(annotation)
        values: list[Value]
        if path in given:
            options[path] = [given[path]]
            continue
        if item is not None and _is_model(item):
            candidates(item, colleague_id, given, fill_optional, f"{path}.0.", options)
            continue
        if item is not None:
            if name in PERSON_FIELDS:
                values = [(str(colleague_id),)]
            elif (choices := _choices(item)) is not None:
                values = [(choices[0],)]
            elif item is str:
                values = [("甲", "乙")]
            else:
                raise NoExample(f"{path}: a list of {item}")
        elif name in PERSON_FIELDS:
            values = [str(colleague_id)]
        elif (choices := _choices(annotation)) is not None:
            values = list(choices)
        elif annotation is bool:
            values = [True, False]
        elif annotation in (int, float, Decimal):
            values = [_number(info)]
        elif annotation is date:
            values = [SOME_DAY.isoformat()]
        elif annotation is datetime:
            values = [f"{SOME_DAY.isoformat()}T{SOME_TIME:%H:%M}"]
        elif annotation is time:
            values = [f"{SOME_TIME:%H:%M}"]
        elif annotation is str:
            values = [_text(info, path, len(options) + 1)]
        else:
            raise NoExample(f"{path}: a field of type {annotation}")
        if nullable and not fill_optional:
            values = [None, *values]
        elif not info.is_required() and annotation is not bool:
            values = [*values, None]
        options[path] = values
    return options


@cache
def site_zone() -> ZoneInfo:
    """Return the time zone of the demo site, in which its forms read a date and time."""
    with transaction() as session:
        return ZoneInfo(person(session, "wangqiang").site.timezone)


def submission(form: type[BaseModel], example: Example) -> dict[str, Any]:
    """Return what the inbox validates when the browser posts `example`."""
    sent = []
    for path, value in example.items():
        if isinstance(value, tuple):
            sent += [(path, v) for v in value]
        elif isinstance(value, str):
            sent.append((path, value))
        elif value is True:
            sent.append((path, "on"))
    return parse_submission(form, FormData(sent), site_zone())


def refusals(form: type[BaseModel], example: Example, context: dict[str, Any]) -> dict[str, str]:
    """Return the form model's refusals of `example`, by field path (none: it is valid)."""
    try:
        form.model_validate(submission(form, example), context=context)
    except ValidationError as exc:
        return {".".join(map(str, p.loc)): p.message for p in problems_from(exc.errors(), form)}
    return {}


def valid_example(
    what: str, form: type[BaseModel], colleague_id: int, override: Override, fill_optional: bool
) -> Example:
    """Return values for every field that the form model accepts, or fail naming `what`."""
    try:
        options = candidates(form, colleague_id, override.values, fill_optional)
    except NoExample as exc:
        pytest.fail(f"{what}: cannot derive an example ({exc}); add it to OVERRIDES")
    tried = dict.fromkeys(options, 0)
    for _ in range(MAX_TRIES):
        example = {path: options[path][index] for path, index in tried.items()}
        refused = refusals(form, example, override.context)
        if not refused:
            return example
        for path, message in refused.items():
            if tried.get(path, len(options.get(path, ())) - 1) + 1 >= len(options.get(path, ())):
                pytest.fail(
                    f"{what}: no valid example: {path}: {message} (tried {options.get(path)}); "
                    "add the value to OVERRIDES"
                )
            tried[path] += 1
    pytest.fail(f"{what}: no valid example after {MAX_TRIES} tries")


def broken_example(
    what: str, form: type[BaseModel], example: Example, context: dict[str, Any]
) -> tuple[str, Value]:
    """Return one field to fill wrongly, and how: a required field left empty, a number out of
    its bounds, or text of the wrong format; the form model must refuse exactly that field."""
    for path, value in _breakages(form, example):
        if path in refusals(form, {**example, path: value}, context):
            return path, value
    pytest.fail(f"{what}: no field can be filled wrongly in the browser")


def _breakages(
    form: type[BaseModel], example: Example, prefix: str = ""
) -> Iterator[tuple[str, Value]]:
    rows = []
    fields = []
    for name, info in form.model_fields.items():
        annotation, _ = _unwrap(info.annotation)
        item = _list_item(annotation)
        if item is not None and _is_model(item):
            rows.append((item, f"{prefix}{name}.0."))
        elif item is None and annotation is not bool and f"{prefix}{name}" in example:
            fields.append((f"{prefix}{name}", info, annotation))
    for path, info, _ in fields:
        # A listed entry's id goes back hidden: the person cannot leave it empty.
        if info.is_required() and path.rsplit(".", 1)[-1] not in LISTED_FIELDS:
            yield path, None
    for path, info, annotation in fields:
        if annotation in (int, float, Decimal) and path.rsplit(".", 1)[-1] not in NAMED_FIELDS:
            le, lt, ge, gt = (_constraint(info, n) for n in ("le", "lt", "ge", "gt"))
            for wrong in (le and le + 1, lt, ge is not None and ge - 1, gt):
                if wrong is not None and wrong is not False:
                    yield path, str(wrong)
        if annotation is str and _constraint(info, "pattern") is not None:
            yield path, "不是号码"
    for row_form, row_prefix in rows:
        yield from _breakages(row_form, example, row_prefix)


# -- the browser ------------------------------------------------------------------------------


def put(page: Page, path: str, value: Value) -> None:
    """Type, pick or tick `value` in the field at `path`, whatever input renders it."""
    control = page.locator(f'[name="{path}"]:not(template *)')
    expect(control.first).to_be_attached()
    first = control.first
    tag, kind = first.evaluate("e => [e.tagName.toLowerCase(), e.type]")
    if kind == "hidden":
        # The id of an entry the task lists: it comes with the page, nobody types it.
        expect(first).to_have_value(value if isinstance(value, str) else "")
    elif tag == "select":
        first.select_option(list(value) if isinstance(value, tuple) else (value or ""))
    elif kind == "checkbox":
        first.set_checked(bool(value))
    elif kind == "radio":
        if value is not None:
            page.locator(f'[name="{path}"][value="{value}"]').check()
        else:
            control.evaluate_all("radios => radios.forEach(r => { r.checked = false; })")
    else:
        first.fill(", ".join(value) if isinstance(value, tuple) else (value or ""))


def shown(page: Page, path: str) -> Value:
    """Return what the field at `path` holds, in the terms `put` fills it with."""
    control = page.locator(f'[name="{path}"]')
    first = control.first
    tag, kind, multiple = first.evaluate("e => [e.tagName.toLowerCase(), e.type, e.multiple]")
    if tag == "select" and multiple:
        return tuple(first.evaluate("e => [...e.selectedOptions].map(o => o.value)"))
    if kind == "checkbox":
        return first.is_checked()
    if kind == "radio":
        checked = page.locator(f'[name="{path}"]:checked')
        return checked.get_attribute("value") if checked.count() else None
    return first.input_value() or None


def typed(value: Value, control_holds_tags: bool) -> Value:
    """Return `value` as the field shows it (tags are one text input)."""
    if isinstance(value, tuple) and control_holds_tags:
        return ", ".join(value)
    return value if value not in BLANK else None


def fill_in(page: Page, example: Example) -> None:
    for path, value in example.items():
        put(page, path, value)


def assert_chinese_form(page: Page, form_selector: str, what: str) -> None:
    """Fail on English words in what the form's page shows a person."""
    form = page.locator(form_selector).element_handle()
    texts = page.evaluate(PAGE_TEXT, [form, sorted(PERSON_FIELDS | SITE_FIELDS)])
    english = [t for t in texts if LATIN_WORD.search(t.replace(PRODUCT_NAME, ""))]
    assert english == [], f"{what}: English on the page: {english}"


def submit_broken_then_fixed(
    page: Page, what: str, form_selector: str, example: Example, broken: tuple[str, Value]
) -> None:
    """Submit the example with one field wrong, check the refusal, then correct and submit it."""
    path, wrong = broken
    fill_in(page, {**example, path: wrong})
    page.locator(form_selector).get_by_test_id("submit").click()
    # By class and id: a field named "summary" has the test id "error-summary" too.
    expect(page.locator(".error-summary")).to_be_focused()
    control = page.locator(f'[name="{path}"]').first
    expect(control).to_have_attribute("aria-invalid", "true")
    expect(control).to_have_attribute("aria-describedby", f"err-{path}")
    beside = page.locator(".field", has=page.locator(f'[name="{path}"]'))
    message = beside.locator(f'[id="err-{path}"]')
    expect(message).to_be_visible()
    text = message.inner_text()
    assert CJK.search(text) and not LATIN_WORD.search(text), f"{what}: {path} says {text!r}"
    assert_chinese_form(page, form_selector, f"{what} (refused)")
    kept = {}
    for other, value in example.items():
        if other == path:
            continue
        tags = page.locator(f'[name="{other}"]').first.evaluate(
            "e => e.tagName === 'INPUT' && e.type === 'text'"
        )
        kept[other] = (shown(page, other), typed(value, tags))
    lost = {p: pair for p, pair in kept.items() if pair[0] != pair[1]}
    assert lost == {}, f"{what}: the refused form lost what was typed (shown, typed): {lost}"
    put(page, path, example[path])
    page.locator(form_selector).get_by_test_id("submit").click()


# -- fixtures ---------------------------------------------------------------------------------


class NoFlowRuns(BaseHTTPRequestHandler):
    """A Prefect API that knows nothing: every call is answered 404 (ObjectNotFound)."""

    def refuse(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = refuse

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the tests' output is no place for its access log


@pytest.fixture(scope="module")
def prefect_stand_in() -> Iterator[str]:
    """Return the API address of a Prefect that knows no flow run and no deployment."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), NoFlowRuns)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def inbox_url(demo_org: None, prefect_stand_in: str) -> Iterator[str]:
    """The inbox alone on a free port, against the test database, without Prefect."""
    port = free_port()
    group = ProcessGroup(get_settings().data_dir / "logs")
    env = {**os.environ, "PREFECT_API_URL": prefect_stand_in}
    argv = [sys.executable, "-m", "uvicorn", "inbox.api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    child = group.start("step-forms-inbox", argv, env)
    base_url = f"http://127.0.0.1:{port}"
    group.wait_ready(child, answers(f"{base_url}/healthz"))
    yield base_url
    group.stop_all()


@pytest.fixture(scope="module")
def desk(browser: Browser, inbox_url: str) -> Iterator[dict[str, Person]]:
    """One logged-in phone-sized browser per person, opened on first use."""
    contexts = []

    class Opener(dict[str, Person]):
        def __missing__(self, username: str) -> Person:
            context = browser.new_context(viewport=PHONE, locale="zh-CN")
            contexts.append(context)
            someone = Person(context, inbox_url, username)
            someone.page.set_default_timeout(PAGE_TIMEOUT_MS)
            someone.log_in()
            expect(someone.page).to_have_url(f"{inbox_url}/inbox", timeout=PAGE_TIMEOUT_MS)
            self[username] = someone
            return someone

    yield Opener()
    for context in contexts:
        context.close()


def demo_holder(*roles: Role) -> str:
    """Return the demo person who holds the first of `roles`."""
    for role in roles:
        for demo in DEMO_PEOPLE:
            if role in demo.roles:
                return demo.username
    pytest.fail(f"no demo person holds any of {roles}")


def colleague_id() -> int:
    with transaction() as session:
        return person(session, "wangqiang").id


@contextmanager
def server_errors(page: Page) -> Iterator[list[str]]:
    """Collect the page's server errors (5xx) while the block runs."""
    failed: list[str] = []

    def watch(response: Response) -> None:
        if response.status >= 500:
            failed.append(f"{response.status} {response.url}")

    page.on("response", watch)
    try:
        yield failed
    finally:
        page.remove_listener("response", watch)


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STEPS))
def test_step_form_renders_refuses_in_chinese_keeps_input_and_accepts(
    name: str, desk: dict[str, Person]
) -> None:
    step: HumanStep[Any] = STEPS[name]
    override = OVERRIDES.get(name, Override())
    example = valid_example(name, step.form, colleague_id(), override, fill_optional=True)
    broken = broken_example(name, step.form, example, override.context)
    holder = demo_holder(*step.decided_by, NAMED_PERSON_ROLE)
    with transaction() as session:
        task = step_task(
            session, step, STEP_KINDS[name], person(session, holder), utcnow(), override.context
        )
        task_id, process_id = task.id, task.process_id
    someone = desk[holder]
    page = someone.page
    try:
        with server_errors(page) as failed:
            page.goto(f"{someone.base_url}/tasks/{task_id}")
            form = "[data-testid=step-form]"
            expect(page.locator(form)).to_be_visible()
            assert_chinese_form(page, form, name)
            submit_broken_then_fixed(page, name, form, example, broken)
            expect(page).to_have_url(f"{someone.base_url}/inbox")
            expect(page.locator(".flash")).to_contain_text(f"任务 #{task_id} 已完成")
        assert failed == []
        with transaction() as session:
            done = session.get_one(InboxTask, task_id)
            assert done.state == TaskState.DONE
            recorded = step.form.model_validate(
                submission(step.form, example), context=override.context
            )
            assert done.result == recorded.model_dump(mode="json")
            # Without a flow run (and without Prefect) the hand-back waits for the sweep.
            assert done.resumed_at is None and done.resume_error is not None
    finally:
        _retire(process_id)


@pytest.mark.parametrize("kind", list(INTAKES))
def test_start_form_renders_refuses_in_chinese_keeps_input_and_starts(
    kind: ProcessKind, desk: dict[str, Person]
) -> None:
    intake = INTAKES[kind]
    what = f"start/{kind}"
    example = valid_example(what, intake.form, colleague_id(), Override(), fill_optional=False)
    broken = broken_example(what, intake.form, example, {})
    # Anyone may record their own resignation: a newcomer, who has none in progress.
    starter = demo_holder(*intake.roles) if intake.roles else new_staff("新同事")[1]
    someone = desk[starter]
    page = someone.page
    with server_errors(page) as failed:
        page.goto(f"{someone.base_url}/start/{kind}")
        form = "[data-testid=intake-form]"
        expect(page.locator(form)).to_be_visible()
        assert_chinese_form(page, form, what)
        submit_broken_then_fixed(page, what, form, example, broken)
        expect(page).to_have_url(re.compile(rf"{someone.base_url}/processes/[^/]+$"))
        expect(page.get_by_test_id("process-subject")).to_be_visible()
    _retire(page.url.rsplit("/", 1)[-1])
    assert failed == []


def _retire(process_id: str) -> None:
    """Close the case, so that the sweep of a stack sharing this database (the end-to-end tests)
    neither starts its flow run nor keeps retrying the hand-back of a run that never existed."""
    with transaction() as session:
        session.execute(
            update(Process).where(Process.id == process_id).values(state=ProcessState.CLOSED)
        )
        session.execute(
            update(InboxTask)
            .where(InboxTask.process_id == process_id, InboxTask.resumed_at.is_(None))
            .values(resume_retry_at=None)
        )


def test_a_rule_of_one_row_is_shown_beside_its_field(desk: dict[str, Person]) -> None:
    # A row's own rule (a disputed item needs a reason) was shown only in the summary, whose
    # link led nowhere: the row has no field of its own.
    name = "resignation.confirm-items"
    override = OVERRIDES[name]
    holder = demo_holder(NAMED_PERSON_ROLE)
    with transaction() as session:
        task = step_task(
            session, STEPS[name], STEP_KINDS[name], person(session, holder), utcnow(),
            override.context,
        )  # fmt: skip
        task_id, process_id = task.id, task.process_id
    someone = desk[holder]
    page = someone.page
    try:
        page.goto(f"{someone.base_url}/tasks/{task_id}")
        put(page, "verdicts.0.verdict", "dispute")
        page.get_by_test_id("submit").click()
        expect(page.locator(".error-summary")).to_be_focused()
        reason = page.locator('[name="verdicts.0.reason"]')
        expect(reason).to_have_attribute("aria-invalid", "true")
        expect(page.locator('[id="err-verdicts.0.reason"]')).to_have_text("提出异议需说明原因")
        expect(page.locator('.error-summary a[href="#f-verdicts.0.reason"]')).to_have_count(1)
    finally:
        _retire(process_id)


def test_a_long_form_posted_after_the_session_ended_comes_back_after_login(
    browser: Browser, inbox_url: str
) -> None:
    # Far more than a cookie holds (~4 KB): ~3,300 Chinese characters (within the field's 4,000)
    # are 9 KB of UTF-8, more in the session cookie's JSON. The browser dropped such a cookie,
    # and the draft with it.
    description = "".join(f"第{n}次来电：楼上卫生间漏水，天花板渗水严重。" for n in range(150))
    assert len(description) <= 4000 and len(description.encode()) > 8 * 1024
    typed = {
        "resident_name": "王先生",
        "unit": "3-1-502",
        "contact_phone": "13800138000",
        "description": description,
    }
    # Someone of their own: ending the session revokes every login of the person.
    _, username = new_staff("长表单同事")
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        someone = Person(context, inbox_url, username)
        someone.page.set_default_timeout(PAGE_TIMEOUT_MS)
        page = someone.page
        someone.log_in()
        expect(page).to_have_url(f"{inbox_url}/inbox")
        page.goto(f"{inbox_url}/start/{ProcessKind.COMPLAINT}")
        form = page.get_by_test_id("intake-form")
        for name, value in typed.items():
            form.locator(f"[name={name}]").fill(value)
        form.locator("[name=category]").select_option(str(Category.REPAIR))
        form.locator("[name=urgency]").select_option(str(Urgency.URGENT))
        with transaction() as session:
            revoke_tokens(session, person(session, username))
        form.get_by_test_id("submit").click()

        expect(page).to_have_url(re.compile(rf"{inbox_url}/login\?next=/start/complaint$"))
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button.primary")

        expect(page).to_have_url(f"{inbox_url}/start/{ProcessKind.COMPLAINT}")
        form = page.get_by_test_id("intake-form")
        for name, value in typed.items():
            expect(form.locator(f"[name={name}]")).to_have_value(value)
        expect(form.locator("[name=category]")).to_have_value(str(Category.REPAIR))
        expect(form.locator("[name=urgency]")).to_have_value(str(Urgency.URGENT))
        # Nothing was started by the post that found the session ended.
        with transaction() as session:
            started = session.scalars(
                select(Process.id).where(Process.started_by_id == person(session, username).id)
            ).all()
        assert started == []
    finally:
        context.close()


# A handover item as the flow lists it, with where it is kept.
KEPT_ITEM = {**LISTED_ITEM, "item_id": 8, "description": "机房门禁卡", "location": "前台抽屉"}


@pytest.mark.parametrize(
    ("name", "rows", "decision"),
    [
        ("resignation.confirm-items", "verdicts", "verdict"),
        ("resignation.resolve-disputes", "resolutions", "outcome"),
    ],  # fmt: skip
)
def test_each_listed_handover_item_is_shown_beside_its_decision(
    name: str, rows: str, decision: str, desk: dict[str, Person]
) -> None:
    # Each item was an editable number box "条目" holding the item's id: the person had to
    # guess which item "8" was, and could change it.
    step: HumanStep[Any] = STEPS[name]
    holder = demo_holder(*step.decided_by, NAMED_PERSON_ROLE)
    with transaction() as session:
        task = step_task(
            session, step, STEP_KINDS[name], person(session, holder), utcnow(),
            {"items": [KEPT_ITEM]},
        )  # fmt: skip
        task_id, process_id = task.id, task.process_id
    someone = desk[holder]
    page = someone.page
    try:
        page.goto(f"{someone.base_url}/tasks/{task_id}")
        form = page.get_by_test_id("step-form")
        row = form.locator(".row-fields").first
        item = row.get_by_test_id(f"listed-{rows}.0.item_id")
        for fact in ("机房门禁卡", "类别", "钥匙", "存放位置", "前台抽屉"):
            expect(item).to_contain_text(fact)
        expect(form.locator(f'[name="{rows}.0.item_id"]')).to_have_attribute("type", "hidden")
        expect(form.locator(f'[name="{rows}.0.item_id"]')).to_have_value("8")
        expect(row.locator(f'[name="{rows}.0.{decision}"]')).to_be_visible()
        expect(form.get_by_role("spinbutton")).to_have_count(0)
        assert_fits(page, name)
        # Refused (nothing decided), the item is still shown, not a bare id.
        form.get_by_test_id("submit").click()
        expect(page.locator(".error-summary")).to_be_focused()
        expect(page.get_by_test_id(f"listed-{rows}.0.item_id")).to_contain_text("机房门禁卡")
        assert_fits(page, f"{name} (refused)")
    finally:
        _retire(process_id)


def test_hr_chooses_the_new_hires_site_by_name(desk: dict[str, Person]) -> None:
    # The site was a bare number box: HR had to know the site's database id.
    hr = demo_holder(*INTAKES[ProcessKind.ONBOARDING].roles or ())
    with transaction() as session:
        site = person(session, hr).site
        site_id, site_name = str(site.id), site.name
    someone = desk[hr]
    page = someone.page
    page.goto(f"{someone.base_url}/start/onboarding")
    site_field = page.get_by_label("管理处")
    expect(site_field).to_have_js_property("tagName", "SELECT")
    expect(site_field.locator(f'option[value="{site_id}"]')).to_have_text(site_name)
    assert_fits(page, "start/onboarding")


def test_a_complaint_task_names_its_first_responder_once_at_phone_width(
    desk: dict[str, Person],
) -> None:
    # The header and the case facts (its first responder and its owner of record) said
    # 首问责任人 three times for one person.
    holder = "zhangmin"
    with transaction() as session:
        task = complaint_task(session, utcnow(), by=holder)
        task_id, process_id = task.id, task.process_id
    someone = desk[holder]
    page = someone.page
    try:
        page.goto(f"{someone.base_url}/tasks/{task_id}")
        expect(page.get_by_text("首问责任人", exact=True)).to_have_count(1)
        assert_fits(page, "complaint task")
    finally:
        _retire(process_id)


def test_the_plan_reads_a_budget_venue_and_a_monthly_cadence_at_phone_width(
    desk: dict[str, Person],
) -> None:
    # The budget's "Venue" read 地点 and a monthly cadence 月度 (words of a session's venue
    # and of a monthly plan).
    name = "training_plan.approve"
    step: HumanStep[Any] = STEPS[name]
    holder = demo_holder(*step.decided_by, NAMED_PERSON_ROLE)
    plan = {
        "title": "十二月培训计划",
        "items": [{"topic": "消防演练", "cadence": "monthly", "venue": "三楼会议室"}],
        "budget": [{"category": "venue", "description": "会议室租金", "amount": 300}],
    }
    context = {"document": plan, "period": "2026-12", "version": 1}
    with transaction() as session:
        task = step_task(
            session, step, STEP_KINDS[name], person(session, holder), utcnow(), context
        )
        task_id, process_id = task.id, task.process_id
    someone = desk[holder]
    page = someone.page
    try:
        page.goto(f"{someone.base_url}/tasks/{task_id}")
        budget = page.get_by_test_id("plan-budget")
        expect(budget.locator("tbody td").first).to_have_text("场地")
        sessions = page.get_by_test_id("plan-sessions")
        expect(sessions.locator("tbody td").nth(1)).to_have_text("每月")
        expect(sessions.locator("th").nth(2)).to_have_text("地点")
        assert_fits(page, name)
    finally:
        _retire(process_id)
