"""The monthly report's tasks: find the sites due a report, compute, render, queue.

Each reads afresh (no cached results): the figures are computed as of the run, and the outbox
keys (site and month) make a repeated queue step add nothing.
"""

from datetime import datetime
from typing import Any

from prefect import task

from config import get_settings
from dashboard import monthly_report
from dashboard.monthly_report import REPORT_CALENDAR, DueReport
from db.session import transaction
from domain.calendars import calendar_book
from domain.metrics import DashboardFigures
from flows.catalog import STEP_TITLES
from tasks.replay import FRESH_READ
from tasks.retries import ON_TRANSIENT_DB_ERROR


@task(name="find-due-monthly-reports", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def find_due_reports(now: datetime) -> list[DueReport]:
    """Return the sites whose first working day of the month is today, with last month."""
    with transaction() as session:
        return monthly_report.reports_due(session, now, calendar_book(), REPORT_CALENDAR)


@task(name="compute-monthly-figures", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def compute_figures(report: DueReport, now: datetime) -> DashboardFigures:
    """Return the dashboard of the report's site and month."""
    with transaction() as session:
        return monthly_report.report_figures(session, report, now)


@task(name="render-monthly-report", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def render_report(report: DueReport, figures: DashboardFigures) -> dict[str, Any]:
    """Return the report's tables, charts and headlines in every language."""
    titles = STEP_TITLES
    return monthly_report.report_context(report, figures, titles, get_settings())


@task(name="queue-monthly-report", cache_policy=FRESH_READ, **ON_TRANSIENT_DB_ERROR)
def queue_report(report: DueReport, context: dict[str, Any], now: datetime) -> int:
    """Queue the report for the site's managers; return the rows added (0 when already queued)."""
    with transaction() as session:
        return monthly_report.queue_report(session, report, context, now)
