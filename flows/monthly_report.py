"""Monthly operations report (scheduled housekeeping flow, daily at 09:00 Beijing time).

1. Find the sites where today is the first working day of the month (working calendar); on any
   other day the flow ends here.
2. For each: compute last month's dashboard figures from the event history.
3. Render them: tables and SVG charts, in Chinese and English.
4. Queue the report to the site's managers through the outbox, once per site and month.
"""

from datetime import datetime

from prefect import flow

from db.base import utcnow
from tasks.monthly_report import compute_figures, find_due_reports, queue_report, render_report


@flow(name="monthly-report")
def monthly_report(now: datetime | None = None) -> dict[str, int]:
    """Queue last month's report where today opens the working month; return rows per site."""
    moment = now or utcnow()
    queued = {}
    for report in find_due_reports(moment):
        figures = compute_figures(report, moment)
        context = render_report(report, figures)
        queued[report.site_code] = queue_report(report, context, moment)
    return queued
