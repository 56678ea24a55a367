"""What holds now at a site: the processes under way and the open tasks, by tier and holder.

Unlike the period's figures, these are read from the process and inbox_task rows as they are.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from db.models import InboxTask, Process, TaskState
from domain.metrics.figures import Figure
from domain.metrics.measures import Drilldown, Measure, filter_number
from domain.metrics.periods import ONE_DAY, site_zone
from domain.metrics.queries import RUNNING_STATES, user_names
from rules.sla import TierRole


class KindCount(Figure):
    key: str  # "kind:complaint"
    kind: str
    count: int


class StepCount(Figure):
    key: str  # "step:complaint.resolution"; "step:" for a process between steps
    kind: str
    step: str | None
    count: int


class RunningProcesses(Figure):
    total: int
    by_kind: list[KindCount]
    by_step: list[StepCount]


class TaskLoad(Figure):
    """Open tasks of one tier or holder: all of them, those due later today, those overdue."""

    key: str  # "tier:shift_lead" | "user:12" | "role:engineering" | "" for the total
    name: str | None  # the person's name for "user:" rows
    open: int
    due_today: int
    overdue: int


class TaskFigures(Figure):
    total: TaskLoad
    by_tier: list[TaskLoad]
    by_person: list[TaskLoad]


def _open_tasks(site_id: int, now: datetime) -> Select[Any]:
    """Return the open tasks of a site that are available now (later onboarding days are not)."""
    return select(InboxTask).where(
        InboxTask.site_id == site_id,
        InboxTask.state == TaskState.OPEN,
        InboxTask.available_from <= now,
    )


def _day_end(now: datetime, zone: ZoneInfo) -> datetime:
    """Return the next local midnight after `now`."""
    return datetime.combine(now.astimezone(zone).date() + ONE_DAY, time(), tzinfo=zone)


def running_processes(session: Session, site_id: int) -> RunningProcesses:
    """Return the site's processes not closed yet, by kind and by the step they wait on."""
    rows = session.execute(
        select(Process.kind, Process.current_step, func.count())
        .where(Process.state.in_(RUNNING_STATES), Process.site_id == site_id)
        .group_by(Process.kind, Process.current_step)
    ).all()
    by_kind: dict[str, int] = defaultdict(int)
    for kind, _step, count in rows:
        by_kind[kind] += count
    return RunningProcesses(
        total=sum(by_kind.values()),
        by_kind=[
            KindCount(key=f"kind:{kind}", kind=kind, count=n) for kind, n in sorted(by_kind.items())
        ],
        by_step=[
            StepCount(key=f"step:{step or ''}", kind=kind, step=step, count=count)
            for kind, step, count in sorted(rows, key=lambda r: (r[0], r[1] or ""))
        ],
    )


def task_figures(session: Session, site_id: int, now: datetime) -> TaskFigures:
    """Return the site's open tasks, due later today and overdue, by tier and by holder."""
    day_end = _day_end(now, site_zone(session, site_id))
    tasks = _open_tasks(site_id, now).subquery()
    overdue = tasks.c.due_at < now
    due_today = and_(tasks.c.due_at >= now, tasks.c.due_at < day_end)
    rows = session.execute(
        select(
            tasks.c.tier,
            tasks.c.assignee_id,
            tasks.c.candidate_role,
            func.count(),
            func.sum(case((due_today, 1), else_=0)),
            func.sum(case((overdue, 1), else_=0)),
        ).group_by(tasks.c.tier, tasks.c.assignee_id, tasks.c.candidate_role)
    ).all()
    names = user_names(session, {row[1] for row in rows if row[1] is not None})
    total, tiers, holders = _Load(), defaultdict(_Load), defaultdict(_Load)
    for tier, assignee_id, role, count, today, late in rows:
        holder = f"user:{assignee_id}" if assignee_id is not None else f"role:{role or ''}"
        for load in (total, tiers[f"tier:{tier}"], holders[holder]):
            load.add(count, int(today or 0), int(late or 0))

    def shown(key: str, load: "_Load") -> TaskLoad:
        name = names.get(int(key.removeprefix("user:"))) if key.startswith("user:") else None
        return TaskLoad(
            key=key, name=name, open=load.open, due_today=load.due_today, overdue=load.overdue
        )

    tier_order = {f"tier:{tier.value}": tier.rank for tier in TierRole}
    return TaskFigures(
        total=shown("", total),
        by_tier=[
            shown(key, load)
            for key, load in sorted(
                tiers.items(), key=lambda item: tier_order.get(item[0], len(tier_order))
            )
        ],
        # Who needs help first: most overdue, then most due today, then most open.
        by_person=[
            shown(key, load)
            for key, load in sorted(
                holders.items(),
                key=lambda item: (-item[1].overdue, -item[1].due_today, -item[1].open, item[0]),
            )
        ],
    )


@dataclass
class _Load:
    """Open tasks counted from grouped rows: all of them, due later today, overdue."""

    open: int = 0
    due_today: int = 0
    overdue: int = 0

    def add(self, count: int, due_today: int, overdue: int) -> None:
        self.open += count
        self.due_today += due_today
        self.overdue += overdue


# The task figures whose ids `task_drilldown` lists.
TASK_MEASURES = (Measure.TASKS_OPEN, Measure.TASKS_DUE_TODAY, Measure.TASKS_OVERDUE)


def running_ids(session: Session, site_id: int, filters: Mapping[str, str]) -> list[str]:
    """Return the ids of the site's running processes, by kind and step, oldest first."""
    statement = select(Process.id).where(
        Process.state.in_(RUNNING_STATES), Process.site_id == site_id
    )
    if "kind" in filters:
        statement = statement.where(Process.kind == filters["kind"])
    if "step" in filters:
        step = filters["step"]
        statement = statement.where(
            Process.current_step == step if step else Process.current_step.is_(None)
        )
    return list(session.scalars(statement.order_by(Process.started_at, Process.id)))


def task_drilldown(
    session: Session,
    site_id: int,
    now: datetime,
    measure: Measure,
    key: str,
    filters: Mapping[str, str],
    limit: int,
) -> Drilldown:
    """Return the open tasks behind a task figure, most urgent first, and their processes."""
    statement = _open_tasks(site_id, now).with_only_columns(InboxTask.id, InboxTask.process_id)
    if measure is Measure.TASKS_OVERDUE:
        statement = statement.where(InboxTask.due_at < now)
    elif measure is Measure.TASKS_DUE_TODAY:
        day_end = _day_end(now, site_zone(session, site_id))
        statement = statement.where(InboxTask.due_at >= now, InboxTask.due_at < day_end)
    if "tier" in filters:
        statement = statement.where(InboxTask.tier == filters["tier"])
    if "user" in filters:
        user_id = filter_number(filters, "user")
        statement = statement.where(
            InboxTask.assignee_id == user_id
            if user_id is not None
            else InboxTask.assignee_id.is_(None)
        )
    if "role" in filters:
        statement = statement.where(
            InboxTask.assignee_id.is_(None), InboxTask.candidate_role == filters["role"]
        )
    rows = session.execute(
        statement.order_by(InboxTask.due_at.asc().nulls_last(), InboxTask.id)
    ).all()
    return Drilldown(
        measure=measure,
        key=key,
        total=len(rows),
        process_ids=list(dict.fromkeys(row.process_id for row in rows))[:limit],
        task_ids=[row.id for row in rows[:limit]],
    )
