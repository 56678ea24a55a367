"""The dashboard at scale: 100,000 complaints and 1,000,000 events over a year at five sites;
the whole dashboard of one site for last month (every site in its breakdown), next to a
baseline, an indexed COUNT of the month's received complaints, measured in the same run."""

import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, func, insert, select

from config import get_settings
from db.migrate import upgrade
from db.models import Event, InboxTask, Process, Site, User, UserRole
from db.session import get_engine, transaction
from domain.events import EventKind
from domain.metrics import FIRST_RESPONSE_STEP, dashboard_figures, month_before
from forms.complaint import POOR_RATING_MAX
from launch.demo import seed_demo

COMPLAINTS = 100_000
EVENTS = 1_000_000
SITES = 5
SEED = 20260105
BEIJING = ZoneInfo("Asia/Shanghai")
HISTORY_STARTS = datetime(2025, 1, 1, tzinfo=BEIJING)
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=BEIJING)
INSERT_BATCH = 10_000  # complaints per transaction (about 100,000 events)
RUNS = 7
SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"
TARGET_MS = 300

# The shape of the generated history (shares and spans of a plausible front desk).
URGENT_SHARE = 0.3
URGENT_RESPONSE, GENERAL_RESPONSE = timedelta(hours=2), timedelta(hours=48)
LATE_RESPONSE_SHARE = 0.08
RESOLUTION_SPAN_HOURS = (1, 80)
SLOW_RESOLUTION = timedelta(hours=72)
VISIT_SPAN_HOURS = (1, 48)
CLIMB_SHARE = 0.5  # of escalated cases, the share that climbs each further tier
RATING_WEIGHTS = {1: 2, 2: 6, 3: 12, 4: 35, 5: 45}
CATEGORIES = ("complaint", "repair", "environment", "security", "noise", "parking", "other")
TIERS = ("shift_lead", "supervisor", "site_manager", "quality")
# Persisted step names (flows/complaint.py); the bench does not import Prefect's flows.
FIRST_RESPONSE, RESOLUTION, RETURN_VISIT = (
    FIRST_RESPONSE_STEP,
    "complaint.resolution",
    "complaint.return-visit",
)


@dataclass
class Batch:
    """Rows of one insert transaction, with the ids handed out so far."""

    processes: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Ids:
    """The last task and event ids handed out (the bench inserts explicit ids)."""

    task: int = 0
    event: int = 0


class Complaint:
    """One generated complaint: its tasks and events until NOW."""

    def __init__(self, batch: Batch, ids: Ids, site_id: int, staff_id: int, rng: random.Random):
        self.batch = batch
        self.ids = ids
        self.site_id = site_id
        self.staff_id = staff_id
        self.rng = rng
        self.process_id = str(uuid.uuid4())
        self.open_step: str | None = None

    def event(self, kind: str, at: datetime, task_id: int | None = None, **data: Any) -> None:
        if at > NOW:
            return
        self.ids.event += 1
        self.batch.events.append(
            {"id": self.ids.event, "process_id": self.process_id, "task_id": task_id,
             "actor_id": None, "kind": kind, "at": at, "dedup_key": None, "data": data}
        )  # fmt: skip

    def task(self, step: str, opened: datetime, due: datetime, done: datetime, tier: str) -> int:
        """Add a task opened at `opened`; done at `done` unless that is after NOW."""
        self.ids.task += 1
        finished = done <= NOW
        if not finished:
            self.open_step = step
        self.batch.tasks.append(
            {"id": self.ids.task, "process_id": self.process_id, "flow_run_id": self.process_id,
             "step_key": f"{step}-{self.ids.task}", "step": step,
             "state": "done" if finished else "open", "site_id": self.site_id,
             "assignee_id": self.staff_id if tier == "staff" else None,
             "candidate_role": None if tier == "staff" else tier, "available_from": opened,
             "due_at": due, "context": {}, "created_at": opened,
             "completed_at": done if finished else None, "tier": tier}
        )  # fmt: skip
        self.event("task_opened", opened, self.ids.task, step=step)
        self.event("task_completed", done, self.ids.task, step=step)
        return self.ids.task

    def escalate(self, due: datetime, tiers: int) -> None:
        """Escalate the task just added, a tier an hour from `due`; a still open one moves up."""
        task = self.batch.tasks[-1]
        for rank in range(tiers):
            moment = due + timedelta(hours=rank)
            self.event("task_escalated", moment, task["id"], to_role=TIERS[rank])
            if task["state"] == "open" and moment <= NOW:
                task.update(tier=TIERS[rank], candidate_role=TIERS[rank], assignee_id=None)

    def climb(self) -> int:
        tiers = 1
        while tiers < len(TIERS) and self.rng.random() < CLIMB_SHARE:
            tiers += 1
        return tiers

    def live(self, received: datetime) -> None:
        rng = self.rng
        urgent = rng.random() < URGENT_SHARE
        self.event("complaint_received", received, category=rng.choice(CATEGORIES),
                   urgency="urgent" if urgent else "general")  # fmt: skip
        allowed = URGENT_RESPONSE if urgent else GENERAL_RESPONSE
        due = received + allowed
        late = rng.random() < LATE_RESPONSE_SHARE
        responded = received + allowed * (
            rng.uniform(1.05, 1.5) if late else rng.uniform(0.05, 0.9)
        )
        self.task(FIRST_RESPONSE, received, due, responded, "staff")
        if late:
            self.escalate(due, 1)
        moment, closed_at = responded, None
        for round_no in (1, 2):
            resolved = moment + timedelta(hours=rng.uniform(*RESOLUTION_SPAN_HOURS))
            self.task(RESOLUTION, moment, moment + SLOW_RESOLUTION, resolved, "staff")
            if resolved - moment > SLOW_RESOLUTION:
                self.escalate(moment + SLOW_RESOLUTION, self.climb())
            self.event("complaint_resolved", resolved)
            visited = resolved + timedelta(hours=rng.uniform(*VISIT_SPAN_HOURS))
            self.task(RETURN_VISIT, resolved, visited + timedelta(days=1), visited, "staff")
            rating = rng.choices(list(RATING_WEIGHTS), weights=list(RATING_WEIGHTS.values()))[0]
            if rating <= POOR_RATING_MAX and round_no == 1:
                self.event("complaint_reopened", visited, satisfaction=rating)
                moment = visited
                continue
            self.event("complaint_closed", visited, satisfaction=max(rating, POOR_RATING_MAX + 1))
            closed_at = visited
            break
        done = closed_at is not None and closed_at <= NOW
        self.batch.processes.append(
            {"id": self.process_id, "kind": "complaint", "site_id": self.site_id,
             "subject": "bench", "state": "closed" if done else "running",
             "current_step": None if done else self.open_step, "flow_run_id": None,
             "started_by_id": self.staff_id, "started_at": received,
             "closed_at": closed_at if done else None}
        )  # fmt: skip


def generate(sites: list[tuple[int, int]]) -> Iterator[Batch]:
    """Yield the complaints in batches, received evenly over the year at every site."""
    rng = random.Random(SEED)
    ids = Ids()
    span = (NOW - HISTORY_STARTS).total_seconds()
    for offset in range(0, COMPLAINTS, INSERT_BATCH):
        batch = Batch()
        for _ in range(min(INSERT_BATCH, COMPLAINTS - offset)):
            site_id, staff_id = rng.choice(sites)
            received = HISTORY_STARTS + timedelta(seconds=rng.uniform(0, span))
            Complaint(batch, ids, site_id, staff_id, rng).live(received.astimezone(UTC))
        yield batch


def bulk_insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows the fastest way each database offers: COPY, or one prepared executemany.

    Values go in as the column types would store them (JSON text, UTC timestamps), without
    SQLAlchemy's per-value processing, which would cost more than the database's work.
    """
    if not rows:
        return
    columns = list(rows[0])
    dialect = connection.dialect.name
    values = [tuple(_stored(row[column], dialect) for column in columns) for row in rows]
    names = ", ".join(columns)
    if dialect == "postgresql":
        with connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        return
    placeholders = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", values
    )


def _stored(value: Any, dialect: str) -> Any:
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, datetime) and dialect == "sqlite":
        # What db.base.UTCDateTime and SQLite's DATETIME store: UTC, without the zone.
        return value.astimezone(UTC).strftime(SQLITE_TIMESTAMP)
    return value


def fill(sites: list[tuple[int, int]]) -> tuple[int, int]:
    """Insert the history, exactly EVENTS events; return how many events and tasks went in.

    The secondary indexes are dropped for the load and built afterwards, as a bulk load does:
    building an index once is far cheaper than growing it one random uuid at a time.
    """
    indexes = [index for model in (Process, InboxTask, Event) for index in model.__table__.indexes]
    with get_engine().begin() as connection:
        for index in indexes:
            index.drop(connection)
    events = tasks = 0
    for batch in generate(sites):
        with get_engine().begin() as connection:
            bulk_insert(connection, Process.__table__, batch.processes)
            bulk_insert(connection, InboxTask.__table__, batch.tasks)
            bulk_insert(connection, Event.__table__, batch.events)
        events += len(batch.events)
        tasks += len(batch.tasks)
    events = top_up(events)
    with get_engine().begin() as connection:
        for index in indexes:
            index.create(connection)
    return events, tasks


def top_up(events: int) -> int:
    """Bring the event count to exactly EVENTS with SLA warnings on the oldest first responses."""
    missing = EVENTS - events
    if missing < 0:
        raise RuntimeError(f"the history has {-missing:,} events too many: lower its shares")
    with transaction() as session:
        rows = session.execute(
            select(InboxTask.id, InboxTask.process_id, InboxTask.due_at)
            .where(InboxTask.step == FIRST_RESPONSE)
            .order_by(InboxTask.id)
            .limit(missing)
        ).all()
        base = session.scalar(select(func.max(Event.id))) or 0
        warnings = [
            {"id": base + i + 1, "process_id": row.process_id, "task_id": row.id,
             "actor_id": None, "kind": "sla_warning", "at": row.due_at - timedelta(minutes=30),
             "dedup_key": None, "data": {"target": "first_response"}}
            for i, row in enumerate(rows)
        ]  # fmt: skip
        if warnings:
            session.execute(insert(Event), warnings)
    return events + len(warnings)


def make_sites() -> list[tuple[int, int]]:
    """Return (site id, staff id) of the demo site and the extra sites, one staff member each."""
    with transaction() as session:
        demo = seed_demo(session)
        pairs = []
        for number in range(SITES):
            site = demo if number == 0 else Site(code=f"bench-{number}", name=f"第{number}管理处")
            if number:
                session.add(site)
                session.flush()
            staff = User(username=f"bench-staff-{number}", display_name=f"管家{number}",
                         password_hash="-", site_id=site.id)  # fmt: skip
            staff.roles = [UserRole(role="staff")]
            session.add(staff)
            session.flush()
            pairs.append((site.id, staff.id))
        return pairs


def timed(action: Callable[[], object]) -> float:
    """Return the median wall time in milliseconds of RUNS runs, each in a fresh transaction."""
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run() -> list[str]:
    """Fill the database, time the dashboard and the baseline, and return the lines to print."""
    url = get_settings().database_url
    upgrade(url)
    dialect = get_engine().dialect.name
    sites = make_sites()
    started = time.perf_counter()
    events, tasks = fill(sites)
    if dialect == "postgresql":
        # What autovacuum does after a bulk load: statistics, and the visibility map that lets
        # index-only scans skip the table. SQLite's planner needs no statistics here.
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    fill_s = time.perf_counter() - started
    site_id = sites[0][0]
    period = month_before(NOW, BEIJING)
    every_site = [site for site, _staff in sites]

    def baseline() -> int | None:
        with transaction() as session:
            return session.scalar(
                select(func.count())
                .select_from(Event)
                .where(
                    Event.kind == EventKind.COMPLAINT_RECEIVED,
                    Event.at >= period.start,
                    Event.at < period.end,
                )
            )

    def dashboard() -> Any:
        with transaction() as session:
            return dashboard_figures(session, site_id, period, NOW, every_site)

    baseline_ms = timed(baseline)
    dashboard_ms = timed(dashboard)
    figures = dashboard()
    complaints = figures.complaints
    month_received = baseline()
    return [
        f"Dashboard ({dialect}; {COMPLAINTS:,} complaints, {events:,} events, {tasks:,} tasks "
        f"at {SITES} sites, inserted in {fill_s:.0f} s)",
        f"  one site, {period.start.astimezone(BEIJING):%Y-%m}, {len(every_site)} sites compared: "
        f"{complaints.received:,} received here, {month_received:,} at all sites",
        f"  baseline: indexed COUNT of the month {baseline_ms:8.1f} ms   "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
        f"  whole dashboard (median of {RUNS})     {dashboard_ms:8.1f} ms   "
        f"(target ≤ {TARGET_MS} ms; {dashboard_ms / baseline_ms:.1f} × baseline)",
        f"  figures: acceptance on time {_percent(complaints.acceptance.rate)}, one-time "
        f"resolution {_percent(complaints.one_time_resolution.value)}, escalation "
        f"{_percent(complaints.escalation.value)}, cycle median "
        f"{complaints.cycle_time.median_hours or 0:.1f} h / p90 "
        f"{complaints.cycle_time.p90_hours or 0:.1f} h, satisfaction "
        f"{complaints.satisfaction.average or 0:.2f}, open tasks {figures.tasks.total.open:,}",
    ]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
