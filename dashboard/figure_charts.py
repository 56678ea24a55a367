"""The dashboard's figures drawn as charts, shared by the web page and the monthly report."""

from collections.abc import Mapping

from dashboard.charts import Bar, Series, bar_chart, funnel_chart, trend_chart
from dashboard.tables import Translate, percent
from domain.metrics import DashboardFigures, share


def figure_charts(
    figures: DashboardFigures,
    _: Translate,
    labels: Mapping[str, str],
    chart_prefix: str,
    *,
    by_site: bool = False,
) -> list[str]:
    """Return the SVG charts: the weekly trend, categories, the escalation ladder (and sites)."""
    weekly = trend_chart(
        _("Complaints per week"),
        [week.week for week in figures.weekly],
        [
            Series(_("Received"), [week.received for week in figures.weekly]),
            Series(_("Closed"), [week.closed for week in figures.weekly]),
        ],
        chart_id=f"{chart_prefix}-weekly",
    )
    categories = bar_chart(
        _("Complaints by category"),
        [Bar(labels[row.key], row.received) for row in figures.by_category],
        chart_id=f"{chart_prefix}-categories",
    )
    received = figures.complaints.received
    ladder = funnel_chart(
        _("Escalation ladder"),
        [
            Bar(
                labels[step.key],
                step.reached,
                f"{step.reached}（{percent(share(step.reached, received))}）",
            )
            for step in figures.escalation_ladder
        ],  # fmt: skip
        chart_id=f"{chart_prefix}-ladder",
    )
    charts = [weekly, categories, ladder]
    if by_site:
        charts.append(
            bar_chart(
                _("Complaints by site"),
                [Bar(labels[row.key], row.received) for row in figures.by_site],
                chart_id=f"{chart_prefix}-sites",
            )
        )
    return charts
