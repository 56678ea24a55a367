"""The operations dashboard: its figures (JSON), each of its tables as CSV, and the ids behind
a figure. Shift leads and up, quality and ops read it; the others get 403."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dashboard.tables import MetricsTable, dashboard_tables, figure_labels, table_csv
from db.models import User
from domain import metrics
from domain.metrics import DRILLDOWN_LIMIT, DashboardFigures, Drilldown, Measure, Period
from flows.catalog import STEP_TITLES
from i18n import gettext_for
from inbox.api.deps import ClockDep, CurrentUser, SessionDep
from inbox.api.errors import request_locale

router = APIRouter(prefix="/metrics", tags=["metrics"])

SiteQuery = Annotated[int | None, Query(description="The site; default: the reader's own")]
StartQuery = Annotated[
    datetime | None, Query(description="Start of the period; without a zone, site time")
]
EndQuery = Annotated[
    datetime | None, Query(description="End of the period (exclusive); default: a month on")
]


class MetricsPublic(BaseModel):
    figures: DashboardFigures
    # The label of every key the figures use ("tier:quality" → "品质部"), in the reader's language.
    labels: dict[str, str]


@dataclass(frozen=True)
class Scope:
    """Which site and period a request reads, and every site the reader may compare it with."""

    site_id: int
    period: Period
    now: datetime
    readable_sites: list[int]


def _scope(
    session: Session,
    user: User,
    site_id: int | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> Scope:
    site = site_id if site_id is not None else user.site_id
    readable = metrics.require_site(session, user, site)
    period = metrics.requested_period(start, end, metrics.site_zone(session, site), now)
    return Scope(site, period, now, readable)


def _figures(session: Session, scope: Scope) -> DashboardFigures:
    return metrics.dashboard_figures(
        session, scope.site_id, scope.period, scope.now, scope.readable_sites
    )


@router.get("", response_model=MetricsPublic)
def read_metrics(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    site_id: SiteQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
) -> MetricsPublic:
    """Return every figure of the dashboard for a site and period (default: this month)."""
    scope = _scope(session, user, site_id, start, end, clock())
    figures = _figures(session, scope)
    _ = gettext_for(request_locale(request))
    return MetricsPublic(figures=figures, labels=figure_labels(figures, _, STEP_TITLES))


@router.get("/drilldown", response_model=Drilldown)
def drill_down(
    session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    measure: Annotated[Measure, Query(description="The figure to list the ids of")],
    key: Annotated[
        str | None, Query(description='Filters, e.g. "category:noise,week:2026-W10"')
    ] = None,
    site_id: SiteQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    limit: Annotated[int, Query(ge=1, le=DRILLDOWN_LIMIT)] = DRILLDOWN_LIMIT,
) -> Drilldown:
    """Return the process ids (and task ids) behind one figure of the dashboard."""
    scope = _scope(session, user, site_id, start, end, clock())
    return metrics.drilldown(session, scope.site_id, scope.period, scope.now, measure, key, limit)


@router.get("/{table}.csv", response_class=Response)
def export_table(
    table: MetricsTable,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    site_id: SiteQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
) -> Response:
    """Export one table of the dashboard as CSV (UTF-8 with BOM, so Excel reads the Chinese)."""
    scope = _scope(session, user, site_id, start, end, clock())
    _ = gettext_for(request_locale(request))
    tables = dashboard_tables(_figures(session, scope), _, STEP_TITLES)
    filename = f"{table}-site{scope.site_id}-{scope.period.start:%Y%m%d}.csv"
    return Response(
        content=table_csv(tables[table]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
