"""Notification templates: every event renders in Chinese and English with its documented keys."""

from datetime import UTC, datetime
from typing import Any

import pytest
from jinja2 import TemplateNotFound, UndefinedError

from notify import render as render_module
from notify.render import NotificationEvent, render, resolve_locale

DUE = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)  # 14:30 in Beijing
TASK_URL = "https://kefu.example.cn/tasks/7"

# The context each event expects (see each template's top comment), with sample values.
SAMPLE_CONTEXTS: dict[NotificationEvent, dict[str, Any]] = {
    NotificationEvent.TASK_ASSIGNED: {
        "step_title": "经理审批",
        "process_subject": "3栋1201 漏水投诉",
        "due_at": DUE,
    },
    NotificationEvent.TASK_DUE_SOON: {
        "step_title": "首次响应",
        "process_subject": "3栋1201 漏水投诉",
        "due_at": DUE,
        "holder_name": "李娜",
        "reason": "首次响应时限",
        "tier": 0,
    },
    NotificationEvent.TASK_ESCALATED: {
        "step_title": "处理投诉",
        "process_subject": "3栋1201 漏水投诉",
        "from_name": "李娜",
        "to_name": "客服班长 王芳",
        "reason": "超过解决时限",
        "tier": 1,
        "due_at": DUE,
    },
    NotificationEvent.TASK_OVERDUE: {
        "step_title": "入职考试评分",
        "process_subject": "新员工 王小明 入职培训",
        "due_at": DUE,
        "holder_name": "孙丽",
    },
    NotificationEvent.COMPLAINT_RESOLVED: {
        "process_subject": "漏水投诉",
        "unit": "3栋1201",
        "resolved_by": "张伟",
        "resolution": "已更换水管接头",
    },
    NotificationEvent.COMPLAINT_REOPENED: {
        "process_subject": "漏水投诉",
        "unit": "3栋1201",
        "reason": "回访不满意：仍在渗水",
        "reopen_count": 1,
    },
    NotificationEvent.COMPLAINT_CLOSED: {
        "process_subject": "漏水投诉",
        "unit": "3栋1201",
        "satisfaction": 5,
    },
}
DIGEST_ITEM = {
    "title": "首次响应",
    "subject": "3栋1201 漏水投诉",
    "due_at": DUE,
    "holder": None,
    "url": TASK_URL,
}
SAMPLE_CONTEXTS[NotificationEvent.DAILY_DIGEST] = {
    "day": "2025-11-24",
    "overdue": [DIGEST_ITEM],
    "due_today": [],
    "open": [{**DIGEST_ITEM, "due_at": None}],
    "team": {
        "overdue": [{**DIGEST_ITEM, "holder": "张伟"}],
        "due_today": [],
        "open_count": 3,
        "unassigned_count": 1,
    },
    "inbox_url": "https://kefu.example.cn/tasks",
}
SAMPLE_CONTEXTS[NotificationEvent.NOTIFICATION_BURST] = {
    "items": [
        {"subject": "【已处理】漏水投诉", "url": TASK_URL},
        {"subject": "【已结案】噪音", "url": None},
    ],
    "inbox_url": "https://kefu.example.cn/tasks",
}
CASE_URL = "https://kefu.example.cn/t/case-token"
COMMON = {"recipient_name": "李娜", "task_url": TASK_URL, "case_url": CASE_URL}
CHANNELS = ["email", "wecom", "wecom_bot"]


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("event", list(SAMPLE_CONTEXTS))
def test_every_event_renders_in_both_languages(event: NotificationEvent, locale: str) -> None:
    message = render(event, "email", locale, {**COMMON, **SAMPLE_CONTEXTS[event]})

    assert message.subject and "\n" not in message.subject
    assert "李娜" in message.body
    assert "{{" not in message.body and "{%" not in message.body
    if locale == "zh_CN":
        assert "您好" in message.body
    else:
        assert message.body.startswith("Hello")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("event", list(SAMPLE_CONTEXTS))
def test_every_message_carries_a_way_into_the_inbox(event: NotificationEvent, channel: str) -> None:
    message = render(event, channel, "zh_CN", {**COMMON, **SAMPLE_CONTEXTS[event]})

    assert "https://kefu.example.cn/" in message.body


def test_task_assigned_in_chinese_shows_beijing_time_and_link() -> None:
    message = render(
        "task_assigned", "email", "zh_CN", {**COMMON, **SAMPLE_CONTEXTS["task_assigned"]}
    )

    assert message.subject == "【待办】经理审批：3栋1201 漏水投诉"
    assert "截止时间：2025-11-24 14:30（北京时间）" in message.body
    assert TASK_URL in message.body


def test_task_assigned_in_english() -> None:
    message = render("task_assigned", "email", "en", {**COMMON, **SAMPLE_CONTEXTS["task_assigned"]})

    assert message.subject == "[To do] 经理审批: 3栋1201 漏水投诉"
    assert "Due: 2025-11-24 14:30 (Beijing time)" in message.body


def test_optional_values_left_out() -> None:
    context = {**SAMPLE_CONTEXTS["task_assigned"], "due_at": None}
    message = render("task_assigned", "email", "zh_CN", {**COMMON, "task_url": None, **context})

    assert "截止时间" not in message.body
    assert "http" not in message.body


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("zh_CN", "zh_CN"), ("en", "en"), ("en-US", "en"), ("fr", "zh_CN"), (None, "zh_CN")],
)
def test_locale_falls_back_to_chinese(locale: str | None, expected: str) -> None:
    assert resolve_locale(locale) == expected


def test_missing_context_key_fails_loudly() -> None:
    context = {**COMMON, **SAMPLE_CONTEXTS["task_assigned"]}
    del context["process_subject"]

    with pytest.raises(UndefinedError):
        render("task_assigned", "email", "zh_CN", context)


def test_line_breaks_in_values_cannot_reach_the_subject() -> None:
    context = {**COMMON, **SAMPLE_CONTEXTS["task_assigned"], "step_title": "审批\nBcc: x@evil"}

    message = render("task_assigned", "email", "zh_CN", context)

    assert message.subject == "【待办】审批 Bcc: x@evil：3栋1201 漏水投诉"


def test_unknown_event_is_rejected() -> None:
    with pytest.raises(ValueError):
        render("no_such_event", "email", "zh_CN", COMMON)


def test_naive_due_time_is_rejected() -> None:
    context = {**COMMON, **SAMPLE_CONTEXTS["task_assigned"], "due_at": datetime(2025, 11, 24, 14)}

    with pytest.raises(ValueError, match="naive"):
        render("task_assigned", "email", "zh_CN", context)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("event", list(SAMPLE_CONTEXTS))
def test_every_event_has_html_email_and_wecom_markdown(
    event: NotificationEvent, locale: str
) -> None:
    context = {**COMMON, **SAMPLE_CONTEXTS[event]}

    email = render(event, "email", locale, context)
    wecom = render(event, "wecom", locale, context)

    assert email.body_html is not None
    assert email.body_html.lstrip().startswith("<!DOCTYPE html>")
    assert "李娜" in email.body_html
    assert wecom.body_html is None
    assert wecom.body.startswith("**")  # a bold title line
    assert wecom.subject
    link = TASK_URL if TASK_URL in email.body else CASE_URL
    assert link in email.body_html and link in wecom.body


def test_html_email_escapes_values() -> None:
    context = {**COMMON, **SAMPLE_CONTEXTS["task_assigned"], "process_subject": "<b>漏水</b>"}

    message = render("task_assigned", "email", "zh_CN", context)

    assert message.body_html is not None
    assert "&lt;b&gt;漏水&lt;/b&gt;" in message.body_html and "<b>漏水" not in message.body_html


def test_wecom_markdown_is_short_and_links_the_task() -> None:
    message = render(
        "task_assigned", "wecom", "zh_CN", {**COMMON, **SAMPLE_CONTEXTS["task_assigned"]}
    )

    assert message.body.splitlines()[0] == "**【待办】经理审批**"
    assert f"[处理任务]({TASK_URL})" in message.body
    assert "14:30" in message.body


def test_digest_lists_mine_and_the_team() -> None:
    context = {**COMMON, **SAMPLE_CONTEXTS["daily_digest"]}

    text = render("daily_digest", "email", "zh_CN", context)

    assert text.subject == "【每日待办】2025-11-24：超时 1，今日到期 0，其他 1"
    assert "已超时（1）" in text.body and "团队汇总：待办 3 项，其中未认领 1 项。" in text.body
    assert "处理人 张伟" in text.body


def test_an_event_without_wecom_or_html_templates_falls_back_to_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Other processes may ship only the plain-text email template of their events.
    context = {**COMMON, **SAMPLE_CONTEXTS["task_assigned"]}
    missing = {("wecom", "md"), ("email", "html")}
    real = render_module._template

    def only_text(event: NotificationEvent, family: str, suffix: str, locale: str) -> Any:
        if (family, suffix) in missing:
            raise TemplateNotFound(f"{event}/{family}.{locale}.{suffix}")
        return real(event, family, suffix, locale)

    monkeypatch.setattr(render_module, "_template", only_text)

    email = render("task_assigned", "email", "zh_CN", context)
    wecom = render("task_assigned", "wecom", "zh_CN", context)

    assert email.body_html is None
    assert wecom.body == email.body and wecom.subject == email.subject
