"""The monthly operations report (月度运营报告): on a site's first working day of the month, last
month's dashboard goes to the site's managers, by email (tables and charts) and WeCom (headlines).

Queued through the outbox, keyed by site and month, so a second run that day sends nothing twice.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings, get_settings
from dashboard.figure_charts import figure_charts
from dashboard.tables import (
    NOT_APPLICABLE,
    RATING_FORMAT,
    MetricsTable,
    Table,
    dashboard_tables,
    figure_labels,
    hours,
    percent,
)
from db.models import Site, User, UserRole
from domain.metrics import (
    METRICS_READERS,
    DashboardFigures,
    Period,
    dashboard_figures,
    month_before,
)
from i18n import gettext_for
from notify.outbox import enqueue
from rules.calendar import CalendarBook, WorkingCalendar

REPORT_EVENT = "monthly_report"
# Managers read the report in office hours: the day-shift calendar says which days are working.
REPORT_CALENDAR = "day_shift"
# The web page of the dashboard, linked from the report.
DASHBOARD_PATH = "/dashboard"
MONTH_FORMAT = "%Y-%m"
REPORT_LOCALES = ("zh_CN", "en")
FIRST_OF_MONTH = 1
# The tables the email carries, in this order (the dashboard page has them all).
REPORT_TABLES = (
    MetricsTable.COMPLAINTS,
    MetricsTable.WEEKLY,
    MetricsTable.BY_CATEGORY,
    MetricsTable.ESCALATION_LADDER,
    MetricsTable.RUNNING,
    MetricsTable.TASKS_BY_TIER,
    MetricsTable.TRAINING_PLANS,
    MetricsTable.ONBOARDING_BY_ATTEMPT,
    MetricsTable.ONBOARDING_BY_TRAINER,
    MetricsTable.HANDOVERS,
)


def is_first_working_day_of_month(calendar: WorkingCalendar, day: date) -> bool:
    """Return whether `day` is the first working day of its month."""
    if not calendar.is_working_day(day):
        return False
    return not any(
        calendar.is_working_day(day.replace(day=earlier))
        for earlier in range(FIRST_OF_MONTH, day.day)
    )


@dataclass(frozen=True)
class DueReport:
    """One site's report: which site, which month it covers."""

    site_id: int
    site_code: str
    site_name: str
    month: str  # "2026-03"
    start: datetime
    end: datetime

    @property
    def period(self) -> Period:
        """Return the month the report covers."""
        return Period(self.start, self.end)

    @property
    def key(self) -> str:
        """Return the notification key of this site's report of this month."""
        return f"monthly-report:{self.site_code}:{self.month}"


def reports_due(
    session: Session, now: datetime, calendars: CalendarBook, calendar_name: str
) -> list[DueReport]:
    """Return the reports due now: the sites where today (site time) opens the working month."""
    due = []
    for site in session.scalars(select(Site).order_by(Site.id)):
        zone = ZoneInfo(site.timezone)
        calendar = calendars.for_site(site.code)[calendar_name]
        if not is_first_working_day_of_month(calendar, now.astimezone(zone).date()):
            continue
        month = month_before(now, zone)
        due.append(
            DueReport(
                site_id=site.id,
                site_code=site.code,
                site_name=site.name,
                month=month.start.astimezone(zone).strftime(MONTH_FORMAT),
                start=month.start,
                end=month.end,
            )
        )
    return due


def report_figures(session: Session, report: DueReport, now: datetime) -> DashboardFigures:
    """Return the dashboard of the report's site and month."""
    return dashboard_figures(session, report.site_id, report.period, now)


def report_recipients(session: Session, site_id: int) -> list[User]:
    """Return the active people of the site who may read its dashboard (shift leads and up)."""
    return list(
        session.scalars(
            select(User)
            .where(
                User.site_id == site_id,
                User.active.is_(True),
                User.roles.any(UserRole.role.in_(METRICS_READERS)),
            )
            .order_by(User.id)
        )
    )


def dashboard_url(settings: Settings) -> str:
    """Return the public address of the dashboard page (it asks for a login)."""
    return f"{settings.public_base_url.rstrip('/')}{DASHBOARD_PATH}"


def _headlines(figures: DashboardFigures) -> dict[str, str]:
    complaints = figures.complaints
    average = complaints.satisfaction.average
    return {
        "received": str(complaints.received),
        "closed": str(complaints.closed),
        "acceptance": percent(complaints.acceptance.rate),
        "one_time_resolution": percent(complaints.one_time_resolution.value),
        "escalation": percent(complaints.escalation.value),
        "cycle_median": hours(complaints.cycle_time.median_hours),
        "cycle_p90": hours(complaints.cycle_time.p90_hours),
        "satisfaction": NOT_APPLICABLE if average is None else RATING_FORMAT.format(average),
        "poor_ratings": percent(complaints.satisfaction.poor.value),
        "open_tasks": str(figures.tasks.total.open),
        "overdue_tasks": str(figures.tasks.total.overdue),
        "plans_on_time": percent(figures.training_plans.submission.rate),
        "first_exam_pass": percent(figures.onboarding.by_attempt[0].rate),
        "open_handovers": str(figures.handovers.open),
        "handover_completion": percent(figures.handovers.completion),
    }


def report_context(
    report: DueReport,
    figures: DashboardFigures,
    step_titles: Mapping[str, str],
    settings: Settings,
) -> dict[str, Any]:
    """Return what the report's templates show, in every language a recipient may read."""
    by_locale = {}
    for locale in REPORT_LOCALES:
        _ = gettext_for(locale)
        labels = figure_labels(figures, _, step_titles)
        tables: Mapping[MetricsTable, Table] = dashboard_tables(figures, _, step_titles)
        by_locale[locale] = {
            "tables": [tables[name] for name in REPORT_TABLES],
            "charts": figure_charts(figures, _, labels, f"monthly-{report.site_code}-{locale}"),
        }
    return {
        "site_name": report.site_name,
        "month": report.month,
        "headlines": _headlines(figures),
        "by_locale": by_locale,
        "dashboard_url": dashboard_url(settings),
    }


def queue_report(
    session: Session,
    report: DueReport,
    context: Mapping[str, Any],
    now: datetime,
    settings: Settings | None = None,
) -> int:
    """Queue the report for the site's managers; return the outbox rows added (0 if queued)."""
    return enqueue(
        session,
        event=REPORT_EVENT,
        recipients=report_recipients(session, report.site_id),
        context=context,
        dedup_key=report.key,
        now=now,
        settings=settings or get_settings(),
        link_url=str(context["dashboard_url"]),
        to_group_bots=False,
    )
