"""The operations dashboard in the browser: this month's figures as charts and tables, each
number a link to the cases behind it, every table as CSV."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.figure_charts import figure_charts
from dashboard.tables import MetricsTable, dashboard_tables, figure_labels, percent, table_csv
from db.models import InboxTask, Process, Role, Site, User
from db.session import transaction
from domain import metrics, watchdog
from domain.metrics import DRILLDOWN_LIMIT, DashboardFigures, Measure, Period
from flows.catalog import STEP_TITLES, STEPS
from i18n import gettext_for
from inbox.api.deps import ClockDep
from inbox.web.rendering import page_locale, render
from inbox.web.session import WebUser, acting_user

router = APIRouter(include_in_schema=False)
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class DashboardScope:
    """The site and month a page shows, and the sites the reader may compare."""

    site_id: int
    period: Period
    month: str
    readable_sites: list[int]

    def query(self, **extra: str) -> str:
        """Return this scope (plus `extra`) as the query string of a dashboard address."""
        return urlencode({"site": self.site_id, "month": self.month, **extra})


def _scope(
    session: Session, user: User, site: int | None, month: str | None, now: datetime
) -> DashboardScope:
    site_id = site if site is not None else user.site_id
    readable = metrics.require_site(session, user, site_id)
    zone = metrics.site_zone(session, site_id)
    if month:
        year, number = (int(part) for part in month.split("-"))
        period = metrics.month_period(year, number, zone)
    else:
        period = metrics.month_of(now, zone)
    return DashboardScope(
        site_id, period, period.start.astimezone(zone).strftime("%Y-%m"), readable
    )


def _figures(session: Session, scope: DashboardScope, now: datetime) -> DashboardFigures:
    return metrics.dashboard_figures(
        session, scope.site_id, scope.period, now, scope.readable_sites
    )


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    user: WebUser,
    clock: ClockDep,
    site: int | None = None,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
) -> HTMLResponse:
    """Show how the department is doing this month (or a chosen month and site)."""
    now = clock()
    gettext = gettext_for(page_locale(request, user))
    with transaction() as session:
        scope = _scope(session, acting_user(session, user), site, month, now)
        figures = _figures(session, scope, now)
        sites = session.scalars(select(Site).where(Site.id.in_(scope.readable_sites))).all()
        stuck = watchdog.flagged_count(session) if user.has_role(Role.OPS_ADMIN) else 0
    labels = figure_labels(figures, gettext, STEP_TITLES)
    context = {
        "scope": scope,
        "figures": figures,
        "labels": labels,
        "charts": figure_charts(figures, gettext, labels, "dash", by_site=True),
        "tables": dashboard_tables(figures, gettext, STEP_TITLES),
        "table_names": list(MetricsTable),
        "sites": sites,
        "percent": percent,
        "stuck_processes": stuck,
    }
    return render(request, "dashboard.html", context, user=user)


@router.get("/dashboard/list", response_class=HTMLResponse)
def drilldown_page(
    request: Request,
    user: WebUser,
    clock: ClockDep,
    measure: Measure,
    key: str | None = None,
    site: int | None = None,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
) -> HTMLResponse:
    """List the processes and tasks behind one number of the dashboard."""
    now = clock()
    with transaction() as session:
        scope = _scope(session, acting_user(session, user), site, month, now)
        found = metrics.drilldown(
            session, scope.site_id, scope.period, now, measure, key, DRILLDOWN_LIMIT
        )
        processes = {
            p.id: p
            for p in session.scalars(select(Process).where(Process.id.in_(found.process_ids)))
        }
        tasks = list(session.scalars(select(InboxTask).where(InboxTask.id.in_(found.task_ids))))
    context = {
        "scope": scope,
        "found": found,
        "processes": [processes[pid] for pid in found.process_ids if pid in processes],
        "tasks": tasks,
        "steps": STEPS,
    }
    return render(request, "dashboard_list.html", context, user=user)


@router.get("/dashboard/{table}.csv")
def export_table(
    table: MetricsTable,
    request: Request,
    user: WebUser,
    clock: ClockDep,
    site: int | None = None,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
) -> Response:
    """Download one table of the dashboard as CSV (opens in Excel with its Chinese intact)."""
    now = clock()
    gettext = gettext_for(page_locale(request, user))
    with transaction() as session:
        scope = _scope(session, acting_user(session, user), site, month, now)
        figures = _figures(session, scope, now)
    body = table_csv(dashboard_tables(figures, gettext, STEP_TITLES)[table])
    filename = f"{table}-site{scope.site_id}-{scope.month}.csv"
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
