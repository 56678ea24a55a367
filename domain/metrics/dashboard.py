"""The whole dashboard of one site and period: every process's figures together."""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from domain.metrics.complaints import (
    Breakdown,
    ComplaintMeasures,
    FunnelStep,
    WeekTrend,
    complaint_figures,
)
from domain.metrics.figures import Figure
from domain.metrics.handovers import HandoverFigures, handover_figures
from domain.metrics.onboarding import OnboardingFigures, onboarding_figures
from domain.metrics.periods import Period
from domain.metrics.training_plans import PlanTimeliness, training_plan_figures
from domain.metrics.workload import (
    RunningProcesses,
    TaskFigures,
    running_processes,
    task_figures,
)


class DashboardFigures(Figure):
    """Everything the operations dashboard shows for one site and period."""

    site_id: int
    start: datetime
    end: datetime
    as_of: datetime  # events count up to here: the period's end, or now while it runs
    now: datetime
    running: RunningProcesses
    tasks: TaskFigures
    complaints: ComplaintMeasures
    weekly: list[WeekTrend]
    by_category: list[Breakdown]
    by_site: list[Breakdown]
    escalation_ladder: list[FunnelStep]
    training_plans: PlanTimeliness
    onboarding: OnboardingFigures
    handovers: HandoverFigures


def dashboard_figures(
    session: Session,
    site_id: int,
    period: Period,
    now: datetime,
    compared_site_ids: Collection[int] = (),
) -> DashboardFigures:
    """Return every figure of the dashboard for the site and period, as seen at `now`."""
    complaints = complaint_figures(session, site_id, period, now, compared_site_ids)
    return DashboardFigures(
        site_id=site_id,
        start=period.start,
        end=period.end,
        as_of=min(period.end, now),
        now=now,
        running=running_processes(session, site_id),
        tasks=task_figures(session, site_id, now),
        complaints=complaints.measures,
        weekly=complaints.weekly,
        by_category=complaints.by_category,
        by_site=complaints.by_site,
        escalation_ladder=complaints.escalation_ladder,
        training_plans=training_plan_figures(session, site_id, period, now),
        onboarding=onboarding_figures(session, site_id, period, now),
        handovers=handover_figures(session, site_id, now),
    )
