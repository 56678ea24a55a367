"""The figures whose ids can be listed (the drill-down), and the answer that lists them."""

from collections.abc import Mapping
from enum import StrEnum

from domain.errors import Invalid
from domain.metrics.figures import Figure

# A drill-down answers at most this many ids (the total says how many there are).
DRILLDOWN_LIMIT = 1000


class Measure(StrEnum):
    """A figure whose ids can be listed; the key's filters say which part of it."""

    RUNNING = "running"  # kind:, step:
    TASKS_OPEN = "tasks_open"  # tier:, user:, role:
    TASKS_DUE_TODAY = "tasks_due_today"
    TASKS_OVERDUE = "tasks_overdue"
    RECEIVED = "received"  # category:, week:, tier: (reached that tier or higher)
    ACCEPTED_ON_TIME = "accepted_on_time"  # category:, week:
    ACCEPTED_LATE = "accepted_late"
    ACCEPTANCE_PENDING = "acceptance_pending"
    ESCALATED = "escalated"
    CLOSED = "closed"  # category:, week:; slowest first (the cycle time's drill-down)
    RESOLVED_FIRST_TIME = "resolved_first_time"
    REWORKED = "reworked"  # closed after a reopen or an escalation
    RATED = "rated"
    POOR_RATINGS = "poor_ratings"
    PLAN_SUBMITTED_ON_TIME = "plan_submitted_on_time"
    PLAN_SUBMITTED_LATE = "plan_submitted_late"
    PLAN_SUBMISSION_PENDING = "plan_submission_pending"
    PLAN_APPROVED_ON_TIME = "plan_approved_on_time"
    PLAN_APPROVED_LATE = "plan_approved_late"
    PLAN_APPROVAL_PENDING = "plan_approval_pending"
    LEARNERS = "learners"  # trainer:, mentor:
    PASSED = "passed"  # attempt: (passed by that attempt), trainer:, mentor:
    PASSED_FIRST = "passed_first"  # trainer:, mentor:
    HANDOVERS_OPEN = "handovers_open"


class Drilldown(Figure):
    """The ids behind one figure: processes (and tasks, for task figures), at most `limit`."""

    measure: str
    key: str
    total: int
    process_ids: list[str]
    task_ids: list[int]


def filter_number(filters: Mapping[str, str], dimension: str) -> int | None:
    """Return a filter's value as a user id or attempt number; "" means none (unassigned)."""
    value = filters[dimension]
    if value == "":
        return None
    if not value.isdigit():
        raise Invalid.field("key", "{filter} must name a number", filter=f"{dimension}:{value}")
    return int(value)
