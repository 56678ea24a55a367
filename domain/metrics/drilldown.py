"""The drill-down: the ids of the processes (and tasks) behind one figure of the dashboard.

Each figure's ids come from the same SQL definition as the figure, in its process's module.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from domain.errors import Invalid
from domain.metrics.complaints import (
    CLOSED_MEASURES,
    RECEIVED_MEASURES,
    closed_ids,
    rated_ids,
    received_ids,
)
from domain.metrics.handovers import open_handover_ids
from domain.metrics.measures import DRILLDOWN_LIMIT, Drilldown, Measure
from domain.metrics.onboarding import LEARNER_MEASURES, learner_ids
from domain.metrics.periods import Period, Window
from domain.metrics.queries import without_jit
from domain.metrics.training_plans import PLAN_MEASURES, plan_ids
from domain.metrics.workload import TASK_MEASURES, running_ids, task_drilldown

# A drill-down key: filters "dimension:value" joined by commas, e.g. "category:noise,week:2026-W10".
KEY_SEPARATOR, DIMENSION_SEPARATOR = ",", ":"


# Which filters each measure understands.
_FILTERS: dict[Measure, frozenset[str]] = {
    Measure.RUNNING: frozenset({"kind", "step"}),
    **{m: frozenset({"tier", "user", "role"}) for m in TASK_MEASURES},
    Measure.RECEIVED: frozenset({"category", "week", "tier"}),
    **{m: frozenset({"category", "week"}) for m in RECEIVED_MEASURES if m != Measure.RECEIVED},
    **{m: frozenset({"category", "week"}) for m in CLOSED_MEASURES},
    Measure.PASSED: frozenset({"attempt", "trainer", "mentor"}),
    Measure.LEARNERS: frozenset({"trainer", "mentor"}),
    Measure.PASSED_FIRST: frozenset({"trainer", "mentor"}),
}


def parse_key(measure: Measure, key: str | None) -> dict[str, str]:
    """Return the filters of a drill-down key, refusing those the measure does not know."""
    filters: dict[str, str] = {}
    for part in (key or "").split(KEY_SEPARATOR):
        if not part:
            continue
        dimension, separator, value = part.partition(DIMENSION_SEPARATOR)
        if not separator or dimension not in _FILTERS.get(measure, frozenset()):
            raise Invalid.field("key", "This figure cannot be broken down by {filter}", filter=part)
        filters[dimension] = value
    return filters


def drilldown(
    session: Session,
    site_id: int,
    period: Period,
    now: datetime,
    measure: Measure,
    key: str | None = None,
    limit: int = DRILLDOWN_LIMIT,
) -> Drilldown:
    """Return the ids of the processes (and tasks) behind one figure of the dashboard."""
    filters = parse_key(measure, key)
    without_jit(session)
    window = Window.of([site_id], period, now)
    if measure is Measure.RUNNING:
        found = running_ids(session, site_id, filters)
    elif measure in TASK_MEASURES:
        return task_drilldown(session, site_id, now, measure, key or "", filters, limit)
    elif measure in RECEIVED_MEASURES:
        found = received_ids(session, window, period, measure, filters)
    elif measure in CLOSED_MEASURES:
        found = closed_ids(session, window, period, measure, filters)
    elif measure in (Measure.RATED, Measure.POOR_RATINGS):
        found = rated_ids(session, window, poor=measure is Measure.POOR_RATINGS)
    elif measure in PLAN_MEASURES:
        found = plan_ids(session, window, measure)
    elif measure in LEARNER_MEASURES:
        found = learner_ids(session, window, measure, filters)
    else:
        found = open_handover_ids(session, site_id)
    return Drilldown(
        measure=measure, key=key or "", total=len(found), process_ids=found[:limit], task_ids=[]
    )
