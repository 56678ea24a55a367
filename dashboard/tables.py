"""The dashboard's figures as tables in the reader's language, and as CSV for Excel.

The web page, the CSV export and the monthly report show the same tables. Labels are English
message ids translated through the gettext catalog (i18n/locales/zh_CN/LC_MESSAGES/metrics.po);
people and sites are shown by name.
"""

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.metrics import (
    Breakdown,
    DashboardFigures,
    PersonPassRate,
    Rate,
    TaskLoad,
    Timeliness,
)

Translate = Callable[[str], str]
Value = str | int | float | None

# Excel reads a CSV file as UTF-8 only when it starts with a byte order mark.
UTF8_BOM = "\ufeff"
PERCENT_FORMAT = "{:.1%}"
HOURS_FORMAT = "{:.1f}"
RATING_FORMAT = "{:.2f}"
NOT_APPLICABLE = "—"

PROCESS_KIND_LABELS = {
    "complaint": "Complaint",
    "training_plan": "Training plan",
    "onboarding": "Onboarding",
    "resignation": "Resignation",
}
# The tiers of the escalation ladder (rules/sla.py TierRole), and the other queues a task waits in.
TIER_LABELS = {
    "staff": "First responder",
    "shift_lead": "Shift lead",
    "supervisor": "Supervisor",
    "site_manager": "Site manager",
    "quality": "Quality",
}
QUEUE_LABELS = {
    **TIER_LABELS,
    "staff": "Staff",
    "hr": "HR",
    "ops_admin": "Ops admin",
    "engineering": "Engineering",
    "security": "Security",
    "cleaning": "Cleaning",
    "greening": "Greening",
}
CATEGORY_LABELS = {
    "complaint": "Complaint",
    "repair": "Repair",
    "consultation": "Consultation",
    "environment": "Environment",
    "security": "Safety and order",
    "noise": "Noise",
    "parking": "Parking",
    "other": "Other",
}


class MetricsTable(StrEnum):
    """The tables of the dashboard, by the name their CSV export is reached under."""

    RUNNING = "running"
    TASKS_BY_TIER = "tasks_by_tier"
    TASKS_BY_PERSON = "tasks_by_person"
    COMPLAINTS = "complaints"
    WEEKLY = "weekly"
    BY_CATEGORY = "by_category"
    BY_SITE = "by_site"
    ESCALATION_LADDER = "escalation_ladder"
    TRAINING_PLANS = "training_plans"
    ONBOARDING_BY_ATTEMPT = "onboarding_by_attempt"
    ONBOARDING_BY_TRAINER = "onboarding_by_trainer"
    ONBOARDING_BY_MENTOR = "onboarding_by_mentor"
    HANDOVERS = "handovers"


TABLE_TITLES = {
    MetricsTable.RUNNING: "Running processes",
    MetricsTable.TASKS_BY_TIER: "Open tasks by tier",
    MetricsTable.TASKS_BY_PERSON: "Open tasks by holder",
    MetricsTable.COMPLAINTS: "Complaint measures",
    MetricsTable.WEEKLY: "Complaints per week",
    MetricsTable.BY_CATEGORY: "Complaints by category",
    MetricsTable.BY_SITE: "Complaints by site",
    MetricsTable.ESCALATION_LADDER: "Escalation ladder",
    MetricsTable.TRAINING_PLANS: "Training plans on time",
    MetricsTable.ONBOARDING_BY_ATTEMPT: "Onboarding pass rate by attempt",
    MetricsTable.ONBOARDING_BY_TRAINER: "Onboarding pass rate by trainer",
    MetricsTable.ONBOARDING_BY_MENTOR: "Onboarding pass rate by mentor",
    MetricsTable.HANDOVERS: "Open handovers",
}


@dataclass(frozen=True)
class Table:
    """One table: its title, column headers and rows, already in the reader's language."""

    name: MetricsTable
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]


def percent(value: float | None) -> str:
    """Return a share as a percentage with one decimal, or a dash when there is none."""
    return NOT_APPLICABLE if value is None else PERCENT_FORMAT.format(value)


def hours(value: float | None) -> str:
    """Return hours with one decimal, or a dash when there are none."""
    return NOT_APPLICABLE if value is None else HOURS_FORMAT.format(value)


def key_label(
    key: str, _: Translate, step_titles: Mapping[str, str], names: Mapping[str, str] | None = None
) -> str:
    """Return what a figure's key ("tier:quality", "category:noise", "user:12") is called."""
    dimension, _separator, value = key.partition(":")
    if names and key in names:
        return names[key]
    if dimension == "kind":
        return _(PROCESS_KIND_LABELS.get(value, value))
    if dimension == "step":
        return _(step_titles.get(value, value)) if value else _("Between steps")
    if dimension == "tier":
        return _(TIER_LABELS.get(value, value))
    if dimension == "role":
        return _("Queue: {role}").format(role=_(QUEUE_LABELS.get(value, value)))
    if dimension == "category":
        return _(CATEGORY_LABELS.get(value, value)) if value else _("Uncategorised")
    if dimension in ("mentor", "trainer") and not value:
        return _("No mentor")
    return value


def figure_labels(
    figures: DashboardFigures, _: Translate, step_titles: Mapping[str, str]
) -> dict[str, str]:
    """Return the label of every key the figures use (kinds, steps, tiers, holders, sites…)."""
    names = {row.key: row.name for row in figures.tasks.by_person if row.name}
    names |= {row.key: row.name for row in figures.by_site if row.name}
    names |= {
        row.key: row.name
        for row in (*figures.onboarding.by_trainer, *figures.onboarding.by_mentor)
        if row.name
    }
    keys = [
        *(row.key for row in figures.running.by_kind),
        *(row.key for row in figures.running.by_step),
        *(row.key for row in figures.tasks.by_tier),
        *(row.key for row in figures.tasks.by_person),
        *(row.key for row in figures.by_category),
        *(row.key for row in figures.by_site),
        *(row.key for row in figures.escalation_ladder),
        *(row.key for row in figures.onboarding.by_trainer),
        *(row.key for row in figures.onboarding.by_mentor),
    ]
    return {key: key_label(key, _, step_titles, names) for key in keys}


def _timely(timeliness: Timeliness) -> tuple[Value, ...]:
    return (timeliness.on_time, timeliness.late, timeliness.pending, percent(timeliness.rate))


def _load(label: str, load: TaskLoad) -> tuple[Value, ...]:
    return (label, load.open, load.due_today, load.overdue)


def _breakdown(label: str, row: Breakdown) -> tuple[Value, ...]:
    rate = row.acceptance.rate if row.acceptance else None
    return (label, row.received, row.closed, row.escalated, percent(rate))


def _pass_rate(label: str, row: PersonPassRate) -> tuple[Value, ...]:
    return (
        label,
        row.learners,
        row.passed_first,
        percent(row.first_rate),
        row.passed,
        percent(row.rate),
    )


def _measure(label: str, rate: Rate) -> tuple[Value, ...]:
    return (label, percent(rate.value), rate.numerator, rate.denominator)


def dashboard_tables(
    figures: DashboardFigures, _: Translate, step_titles: Mapping[str, str]
) -> dict[MetricsTable, Table]:
    """Return every table of the dashboard in the language of `_`."""
    labels = figure_labels(figures, _, step_titles)
    complaints = figures.complaints
    acceptance = complaints.acceptance
    judged = acceptance.on_time + acceptance.late
    satisfaction = complaints.satisfaction
    average = satisfaction.average
    received = max(complaints.received, 1)
    columns: dict[MetricsTable, tuple[tuple[str, ...], list[tuple[Value, ...]]]] = {
        MetricsTable.RUNNING: (
            ("Process", "Step", "Running"),
            [
                (_(PROCESS_KIND_LABELS.get(row.kind, row.kind)), labels[row.key], row.count)
                for row in figures.running.by_step
            ],
        ),
        MetricsTable.TASKS_BY_TIER: (
            ("Tier", "Open", "Due later today", "Overdue"),
            [_load(labels[row.key], row) for row in figures.tasks.by_tier]
            + [_load(_("Total"), figures.tasks.total)],
        ),
        MetricsTable.TASKS_BY_PERSON: (
            ("Holder", "Open", "Due later today", "Overdue"),
            [_load(labels[row.key], row) for row in figures.tasks.by_person],
        ),
        MetricsTable.COMPLAINTS: (
            ("Measure", "Value", "Count", "Out of"),
            [
                (_("Complaints received"), complaints.received, None, None),
                (_("Complaints closed"), complaints.closed, None, None),
                (_("Acceptance on time"), percent(acceptance.rate), acceptance.on_time, judged),
                _measure(_("One-time resolution"), complaints.one_time_resolution),
                _measure(_("Escalation rate"), complaints.escalation),
                (
                    _("Cycle time, median (hours)"),
                    hours(complaints.cycle_time.median_hours),
                    None,
                    complaints.cycle_time.closed,
                ),
                (
                    _("Cycle time, 90th percentile (hours)"),
                    hours(complaints.cycle_time.p90_hours),
                    None,
                    complaints.cycle_time.closed,
                ),
                (
                    _("Average satisfaction (1–5)"),
                    NOT_APPLICABLE if average is None else RATING_FORMAT.format(average),
                    None,
                    satisfaction.ratings,
                ),
                _measure(_("Poor ratings (2 or lower)"), satisfaction.poor),
            ],  # fmt: skip
        ),
        MetricsTable.WEEKLY: (
            ("Week", "Starts on", "Received", "Closed"),
            [(w.week, w.starts_on.isoformat(), w.received, w.closed) for w in figures.weekly],
        ),
        MetricsTable.BY_CATEGORY: (
            ("Category", "Received", "Closed", "Escalated", "Acceptance on time"),
            [_breakdown(labels[row.key], row) for row in figures.by_category],
        ),
        MetricsTable.BY_SITE: (
            ("Site", "Received", "Closed", "Escalated", "Escalation rate"),
            [
                (
                    labels[row.key],
                    row.received,
                    row.closed,
                    row.escalated,
                    percent(row.escalation_rate),
                )
                for row in figures.by_site
            ],  # fmt: skip
        ),
        MetricsTable.ESCALATION_LADDER: (
            ("Tier", "Complaints reaching it", "Share of received"),
            [
                (labels[row.key], row.reached, percent(row.reached / received))
                for row in figures.escalation_ladder
            ],
        ),
        MetricsTable.TRAINING_PLANS: (
            ("Deadline", "On time", "Late", "Not yet due", "On-time rate"),
            [
                (_("Submitted by the draft deadline"), *_timely(figures.training_plans.submission)),
                (_("Approved by the approval deadline"), *_timely(figures.training_plans.approval)),
            ],
        ),
        MetricsTable.ONBOARDING_BY_ATTEMPT: (
            ("Attempt", "Learners", "Sat it", "Passed by then", "Pass rate", "Target"),
            [
                (
                    row.attempt,
                    row.learners,
                    row.sat,
                    row.passed,
                    percent(row.rate),
                    percent(row.target),
                )
                for row in figures.onboarding.by_attempt
            ],  # fmt: skip
        ),
        MetricsTable.ONBOARDING_BY_TRAINER: (
            ("Trainer", "Learners", "Passed first time", "First-time rate", "Passed", "Pass rate"),
            [_pass_rate(labels[row.key], row) for row in figures.onboarding.by_trainer],
        ),
        MetricsTable.ONBOARDING_BY_MENTOR: (
            ("Mentor", "Learners", "Passed first time", "First-time rate", "Passed", "Pass rate"),
            [_pass_rate(labels[row.key], row) for row in figures.onboarding.by_mentor],
        ),
        MetricsTable.HANDOVERS: (
            ("Handover", "Items", "Confirmed", "Completion"),
            [
                (row.subject, row.items, row.confirmed, percent(row.completion))
                for row in figures.handovers.handovers
            ],
        ),
    }
    return {
        name: Table(name, _(TABLE_TITLES[name]), tuple(_(h) for h in headers), tuple(rows))
        for name, (headers, rows) in columns.items()
    }


def table_csv(table: Table) -> bytes:
    """Return the table as CSV in UTF-8 with a byte order mark, header row first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.headers)
    writer.writerows(["" if value is None else value for value in row] for row in table.rows)
    return (UTF8_BOM + buffer.getvalue()).encode("utf-8")
