"""Render the web pages from templates/web, in the person's language and time zone."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from config import get_settings
from config.settings import TEMPLATES_DIR
from db.models import User
from db.session import reading
from domain.notices import unread_count
from i18n import gettext_for, in_context, negotiate_locale
from inbox.web.form_fields import RATING_FIELDS, list_row_forms

templates = Jinja2Templates(directory=TEMPLATES_DIR / "web")
LOCALE_COOKIE = "kefu_lang"
# Babel's names for our gettext locales.
BABEL_LOCALES = {"zh_CN": "zh_Hans_CN", "en": "en"}
# An SLA countdown turns amber when less than this share of its time is left, red when overdue.
WARNING_SHARE_LEFT = 0.25


def page_locale(request: Request, user: User | None) -> str:
    """Return the page's locale: the person's choice, else the browser's, else Chinese."""
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in BABEL_LOCALES:
        return chosen
    if user is not None and user.locale in BABEL_LOCALES:
        return user.locale
    return negotiate_locale(request.headers.get("accept-language"))


class Formatter:
    """Dates and durations in the person's locale and the site's time zone."""

    def __init__(self, locale: str, timezone: str) -> None:
        self.babel_locale = BABEL_LOCALES[locale]
        self.zone = ZoneInfo(timezone)

    def when(self, value: datetime | str | None, style: str = "medium") -> str:
        """Return `value` (a datetime or, from a task's context, its ISO text) as a local date and
        time, or an empty string."""
        if value is None:
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return format_datetime(value.astimezone(self.zone), style, locale=self.babel_locale)

    def local_iso(self, value: datetime | str | None) -> str:
        """Return `value` in the site's time zone as an <input type=datetime-local> wants it."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value  # what the person typed, shown back beside its error
        if value is None:
            return ""
        local = value.astimezone(self.zone) if value.tzinfo else value
        return local.strftime("%Y-%m-%dT%H:%M")

    def duration(self, value: timedelta) -> str:
        """Return a duration to the minute in its two largest units: "23小时47分钟" /
        "23 hours 47 minutes" (the page's script keeps it ticking the same way)."""
        parts = [
            format_timedelta(timedelta(seconds=amount), threshold=1, locale=self.babel_locale)
            for amount in countdown_parts(value)
        ]
        return ("" if self.babel_locale.startswith("zh") else " ").join(parts)


def countdown_parts(value: timedelta) -> list[int]:
    """Split a duration into its two largest units, in seconds: days and hours, hours and
    minutes, or minutes alone (at least one), dropping a zero second part."""
    minutes = max(1, int(abs(value).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        parts = [days * 86400, hours * 3600]
    elif hours:
        parts = [hours * 3600, minutes * 60]
    else:
        parts = [minutes * 60]
    return [parts[0], *[part for part in parts[1:] if part]]


def countdown(
    due_at: datetime | None, started_at: datetime | None, now: datetime
) -> dict[str, Any]:
    """Return what the SLA badge shows: the time left (or overdue) and its colour."""
    if due_at is None:
        return {"state": "none", "left": None}
    left = due_at - now
    total = (due_at - (started_at or due_at)).total_seconds()
    if left.total_seconds() <= 0:
        state = "overdue"
    elif total > 0 and left.total_seconds() / total < WARNING_SHARE_LEFT:
        state = "warning"
    else:
        state = "ok"
    warn_at = due_at - timedelta(seconds=total * WARNING_SHARE_LEFT)
    return {
        "state": state,
        "left": left,
        "due_iso": due_at.astimezone(UTC).isoformat(),
        "warn_iso": warn_at.astimezone(UTC).isoformat(),
    }


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: User | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render template `name` with the page's language, formatter and CSRF token."""
    locale = page_locale(request, user)
    gettext: Callable[[str], str] = gettext_for(locale)
    timezone = user.site.timezone if user is not None else get_settings().default_timezone
    base = {
        "request": request,
        "user": user,
        "locale": locale,
        "_": gettext,
        "fmt": Formatter(locale, timezone),
        "csrf_token": request.session.get("csrf", ""),
        "flash": request.session.pop("flash", None),
        "unread": _unread(user),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _unread(user: User | None) -> int:
    """Return the bell's count of unread notices (kept live on the page by /live)."""
    if user is None:
        return 0
    with reading() as session:
        return unread_count(session, user)


def no_store(response: HTMLResponse) -> HTMLResponse:
    """Return `response` marked never to be kept: Back after completing a task asks again and
    shows it done instead of a stale open form."""
    response.headers["Cache-Control"] = "no-store"
    return response


def row_form(form: type[BaseModel] | None, name: str) -> type[BaseModel] | None:
    """Return the form of the rows of list field `name`, whose titles label a decision's rows."""
    return list_row_forms(form).get(name) if form is not None else None


templates.env.globals["row_form"] = row_form
templates.env.globals["in_context"] = in_context
# A rating reads as the point the person chose on the form ("1 非常不满意"), not a bare number.
templates.env.globals["rating_words"] = RATING_FIELDS
