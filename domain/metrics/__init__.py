"""The operations dashboard's figures for a site and period, computed from the event history.

Every count comes from the append-only events, aggregated in the database (GROUP BY); process and
inbox_task rows are read only for what holds now (what runs, what is open) and for a task's SLA
due time, which is recorded on the task. Every figure has a drill-down: the same SQL definition
returns the process or task ids behind it (`drilldown`). Events count up to the period's end, or
up to now while it runs (`as_of`), so a month's figures no longer change once the month is over.

The shared parts (periods, access, figures, measures, queries, workload) never import a
process's module (complaints, training_plans, onboarding, handovers); dashboard and drilldown
bring them together. This package re-exports what the dashboard's readers use.
"""

from domain.metrics.access import METRICS_READERS, metrics_sites, require_site
from domain.metrics.complaints import FIRST_RESPONSE_STEP, Breakdown
from domain.metrics.dashboard import DashboardFigures, dashboard_figures
from domain.metrics.drilldown import drilldown
from domain.metrics.figures import Rate, Timeliness, share
from domain.metrics.measures import DRILLDOWN_LIMIT, Drilldown, Measure
from domain.metrics.onboarding import PersonPassRate
from domain.metrics.periods import (
    Period,
    month_before,
    month_of,
    month_period,
    requested_period,
    site_zone,
    weeks_of,
)
from domain.metrics.workload import TaskLoad

__all__ = [
    "DRILLDOWN_LIMIT",
    "FIRST_RESPONSE_STEP",
    "METRICS_READERS",
    "Breakdown",
    "DashboardFigures",
    "Drilldown",
    "Measure",
    "Period",
    "PersonPassRate",
    "Rate",
    "TaskLoad",
    "Timeliness",
    "dashboard_figures",
    "drilldown",
    "metrics_sites",
    "month_before",
    "month_of",
    "month_period",
    "require_site",
    "requested_period",
    "share",
    "site_zone",
    "weeks_of",
]
