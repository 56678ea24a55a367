"""Render a notification's subject and body from the Jinja2 templates under templates/notifications.

Each event, channel and locale has template files `<event>/<channel>.<locale>.<suffix>`, each
holding a `subject` block and a `body` block, so a translator sees both side by side: email has a
plain-text `.txt` and an `.html` body, WeCom (person and group bot) a markdown `.md` body.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)
from jinja2.runtime import Context

from config.settings import TEMPLATES_DIR
from i18n import gettext_for

NOTIFICATION_TEMPLATES_DIR = TEMPLATES_DIR / "notifications"

# Chinese first, English second; every event has a template in both.
DEFAULT_LOCALE = "zh_CN"
SUPPORTED_LOCALES = ("zh_CN", "en")

# The department works on Beijing time; users read due times in it whatever the server's zone.
DISPLAY_TIMEZONE = ZoneInfo("Asia/Shanghai")
DISPLAY_TIME_FORMAT = "%Y-%m-%d %H:%M"

# A subject longer than the outbox column is clipped rather than failing the business step.
MAX_SUBJECT_CHARS = 200


class NotificationEvent(StrEnum):
    TASK_ASSIGNED = "task_assigned"
    TASK_DUE_SOON = "task_due_soon"
    TASK_ESCALATED = "task_escalated"
    # A due time without an escalation ladder passed; the task stays with its holder.
    TASK_OVERDUE = "task_overdue"
    COMPLAINT_RESOLVED = "complaint_resolved"
    COMPLAINT_REOPENED = "complaint_reopened"
    COMPLAINT_CLOSED = "complaint_closed"
    DAILY_DIGEST = "daily_digest"
    # Several low-urgency messages to one person, sent as one.
    NOTIFICATION_BURST = "notification_burst"
    RESIGNATION_RECORDED = "resignation_recorded"
    HANDOVER_PLAN_APPROVED = "handover_plan_approved"
    HANDOVER_WORK_MOVED = "handover_work_moved"
    HANDOVER_CHECKLIST_READY = "handover_checklist_ready"
    HANDOVER_ITEMS_DISPUTED = "handover_items_disputed"
    HANDOVER_COMPLETED = "handover_completed"
    KNOWLEDGE_SESSION_CONFIRMED = "knowledge_session_confirmed"
    KNOWLEDGE_TRANSFER_COMPLETED = "knowledge_transfer_completed"
    LEAVER_OFFBOARDED = "leaver_offboarded"
    RESIGNATION_CLOSED = "resignation_closed"
    ONBOARDING_EXAM_FAILED = "onboarding_exam_failed"
    ONBOARDING_POST_TAKEN = "onboarding_post_taken"
    ONBOARDING_DISMISSED = "onboarding_dismissed"
    ONBOARDING_FINAL_DEADLINE_MISSED = "onboarding_final_deadline_missed"
    TRAINING_PLAN_REJECTED = "training_plan_rejected"
    TRAINING_PLAN_APPROVED = "training_plan_approved"
    TRAINING_PLAN_ANNOUNCED = "training_plan_announced"
    TRAINING_PLAN_CLOSED = "training_plan_closed"
    MONTHLY_REPORT = "monthly_report"


class NotificationChannel(StrEnum):
    EMAIL = "email"
    WECOM = "wecom"  # a WeCom app message to one person
    WECOM_BOT = "wecom_bot"  # a WeCom group robot of a site or team


# The template family and body suffix of each channel; a group bot reads the WeCom templates.
EMAIL_FAMILY, TEXT_SUFFIX, HTML_SUFFIX = "email", "txt", "html"
CHANNEL_TEMPLATE = {
    NotificationChannel.EMAIL: (EMAIL_FAMILY, TEXT_SUFFIX),
    NotificationChannel.WECOM: ("wecom", "md"),
    NotificationChannel.WECOM_BOT: ("wecom", "md"),
}


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    body_html: str | None = None


def resolve_locale(locale: str | None) -> str:
    """Return the supported locale closest to `locale` ("en-US" -> "en"), else Chinese."""
    normalized = (locale or "").replace("-", "_")
    if normalized.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def format_local_time(value: datetime | None) -> str:
    """Return an aware datetime as Beijing wall-clock text, or an empty string for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    return value.astimezone(DISPLAY_TIMEZONE).strftime(DISPLAY_TIME_FORMAT)


@lru_cache
def _environment() -> Environment:
    """Return the template environment, built on first use so that import does no work."""
    environment = Environment(
        loader=FileSystemLoader(NOTIFICATION_TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        # A missing context key is a bug in the caller; fail in its tests, not in a user's inbox.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the release and change with a restart; checking every file's
        # modification time for every message slowed mass escalations.
        auto_reload=False,
    )
    environment.filters["local_time"] = format_local_time
    return environment


def _template(event: NotificationEvent, family: str, suffix: str, locale: str) -> Template:
    try:
        return _environment().get_template(f"{event}/{family}.{locale}.{suffix}")
    except TemplateNotFound:
        if locale == DEFAULT_LOCALE:
            raise
        return _environment().get_template(f"{event}/{family}.{DEFAULT_LOCALE}.{suffix}")


def _blocks(template: Template, context: Mapping[str, Any]) -> tuple[str, str]:
    block_context = template.new_context(dict(context))
    subject = "".join(template.blocks["subject"](block_context))
    # A line break in a subject would let a value forge mail headers; fold all whitespace.
    return " ".join(subject.split())[:MAX_SUBJECT_CHARS], _body(template, block_context)


def _body(template: Template, block_context: Context) -> str:
    return "".join(template.blocks["body"](block_context)).strip() + "\n"


def _optional_template(
    event: NotificationEvent, family: str, suffix: str, locale: str
) -> Template | None:
    try:
        return _template(event, family, suffix, locale)
    except TemplateNotFound:
        return None


def render(
    event: str, channel: str, locale: str | None, context: Mapping[str, Any]
) -> RenderedMessage:
    """Return the subject and body of `event` for `channel` in the locale closest to `locale`.

    The plain-text email template is the one every event must have. An event without a WeCom
    markdown template is sent to WeCom as that text; one without an HTML template as text email.
    """
    resolved = resolve_locale(locale)
    kind = NotificationEvent(event)
    family, suffix = CHANNEL_TEMPLATE[NotificationChannel(channel)]
    # `t` translates message ids (step titles) into the recipient's language.
    full_context = {**context, "t": gettext_for(resolved)}
    template = _optional_template(kind, family, suffix, resolved)
    if template is None:
        template = _template(kind, EMAIL_FAMILY, TEXT_SUFFIX, resolved)
    subject, body = _blocks(template, full_context)
    body_html = None
    if family == EMAIL_FAMILY:
        html = _optional_template(kind, EMAIL_FAMILY, HTML_SUFFIX, resolved)
        if html is not None:
            # Only the body: the subject is the plain-text template's.
            body_html = _body(html, html.new_context(full_context))
    return RenderedMessage(subject=subject, body=body, body_html=body_html)
