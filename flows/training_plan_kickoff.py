"""Open the next training plans in time (housekeeping; runs on Prefect cron schedules).

The annual kickoff runs every morning in November and December, the monthly one every morning;
each opens the next period's plan at every site on the first working day of its drafting window
(so many working days before the draft deadline, rules/training_plan.yaml), or on the next
working day if a run was missed, and starts the plan's flow run.
"""

from datetime import date

from prefect import flow

from db.base import utcnow
from rules.training_plan import PlanKind, load_policy, policy_calendar
from tasks.training_plan import open_due_plans, start_runs


def _today() -> date:
    return utcnow().astimezone(policy_calendar(load_policy()).zone).date()


@flow(name="training-plan-kickoff-annual")
def annual_training_plan_kickoff(today: date | None = None) -> list[str]:
    """Open next year's plan where its drafting window has begun; return the processes."""
    opened = open_due_plans(PlanKind.ANNUAL, today or _today())
    start_runs(opened)
    return opened


@flow(name="training-plan-kickoff-monthly")
def monthly_training_plan_kickoff(today: date | None = None) -> list[str]:
    """Open next month's plan where its drafting window has begun; return the processes."""
    opened = open_due_plans(PlanKind.MONTHLY, today or _today())
    start_runs(opened)
    return opened
