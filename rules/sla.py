"""SLA escalation ladders as typed data, and the plain functions the sweep asks what is due.

A ladder (per process, category, urgency) sets targets for first response, arrival on site and
resolution, a warning threshold, a chain of roles with the time each tier is allowed, and a
reminder interval at the top tier. Selectors are structured fields, never eval'd expressions.

The climb for the running target: the first responder ("staff") holds it until the target is due;
at the due moment the next tier is brought in; each later tier has its `allowed` time (on the
running clock, pauses excluded) before the one above it is brought in. The top tier hears about
the breach once, then is reminded every `reminder_every` while the target stays overdue.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rules.calendar import (
    TRIAL_START,
    Clock,
    Interval,
    WorkingCalendar,
    load_calendars,
)
from rules.config_errors import RuleConfigError, problems_from

BUNDLED_LADDERS = Path(__file__).with_name("sla_ladders.yaml")
ANY_CATEGORY = "*"
# Mixed units (working hours on one calendar, working days on another) only compare on real
# dates, so target order is checked from several starts: a working morning, a Friday evening
# before a make-up Sunday and the National Day week, and the eve of the 2026 National Day week.
TRIAL_STARTS: tuple[datetime, ...] = (
    TRIAL_START,
    datetime.fromisoformat("2025-09-26T17:55:00+08:00"),
    datetime.fromisoformat("2026-09-30T17:55:00+08:00"),
)


class PauseReason(StrEnum):
    """Why a clock may be stopped; nothing else stops it."""

    WAITING_RESIDENT = "waiting_resident"
    WAITING_PARTS = "waiting_parts"
    WAITING_THIRD_PARTY = "waiting_third_party"


PAUSE_REASON_LABELS: Mapping[PauseReason, Mapping[str, str]] = MappingProxyType(
    {
        PauseReason.WAITING_RESIDENT: {"zh": "等待业主/住户", "en": "Waiting for the resident"},
        PauseReason.WAITING_PARTS: {"zh": "等待配件", "en": "Waiting for parts"},
        PauseReason.WAITING_THIRD_PARTY: {"zh": "等待第三方", "en": "Waiting for a third party"},
    }
)


def pause_reason_label(reason: PauseReason, language: str = "zh") -> str:
    """Return the pause reason's label in the given language ("zh" or "en")."""
    return PAUSE_REASON_LABELS[reason][language]


class TierRole(StrEnum):
    """The roles of the escalation chain, lowest first (values match the user roles)."""

    STAFF = "staff"  # 首问负责人
    SHIFT_LEAD = "shift_lead"  # 客服班长
    SUPERVISOR = "supervisor"  # 客服主管
    SITE_MANAGER = "site_manager"  # 管理处经理
    QUALITY = "quality"  # 品质部

    @property
    def rank(self) -> int:
        """Return the tier's height in the chain (staff is 0)."""
        return _TIER_RANKS[self]


# Looked up for every tier of every clock a sweep judges: built once, not by listing the enum.
_TIER_RANKS = {tier: rank for rank, tier in enumerate(TierRole)}


class Urgency(StrEnum):
    """How urgent the request is; decides the ladder together with process and category."""

    URGENT = "urgent"
    GENERAL = "general"


class TargetKind(StrEnum):
    """The clocks a ladder runs, in the order a case meets them."""

    FIRST_RESPONSE = "first_response"
    ARRIVAL = "arrival"
    RESOLUTION = "resolution"


class Duration(BaseModel):
    """A span in working hours or working days, on the ladder's calendar unless one is named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    working_hours: float | None = Field(default=None, gt=0)
    working_days: int | None = Field(default=None, gt=0)
    calendar: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one_unit(self) -> "Duration":
        if (self.working_hours is None) == (self.working_days is None):
            raise ValueError("give exactly one of working_hours or working_days")
        return self

    @property
    def clock(self) -> Clock:
        """Return the clock the span runs on: holidays never count toward working days."""
        return Clock.SERVICE_HOURS if self.working_hours is not None else Clock.WORKING_DAYS

    def describe(self) -> str:
        """Return the span as an admin writes it, e.g. "2 working hours"."""
        if self.working_hours is not None:
            return f"{self.working_hours:g} working hours"
        return f"{self.working_days} working days"


class Tier(BaseModel):
    """One rung: a role and the time it has before the next role is brought in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: TierRole
    allowed: Duration | None = None


class Targets(BaseModel):
    """The three SLA targets; arrival is optional for work that needs no visit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_response: Duration
    arrival: Duration | None = None
    resolution: Duration


class Ladder(BaseModel):
    """One escalation ladder: selector, targets, warning threshold, chain and reminders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    process: str = Field(min_length=1)
    category: str = Field(default=ANY_CATEGORY, min_length=1)
    urgency: Urgency
    calendar: str = Field(min_length=1)
    targets: Targets
    warning_threshold: float = Field(gt=0, lt=1)
    escalation: list[Tier] = Field(min_length=2)
    reminder_every: Duration
    pause_on: list[PauseReason] = Field(default_factory=lambda: list(PauseReason))

    @field_validator("escalation")
    @classmethod
    def _climbs_in_order(cls, tiers: list[Tier]) -> list[Tier]:
        if tiers[0].role is not TierRole.STAFF:
            raise ValueError("the chain starts with staff (the first responder)")
        for lower, upper in zip(tiers, tiers[1:], strict=False):
            if upper.role.rank <= lower.role.rank:
                order = " → ".join(TierRole)
                raise ValueError(f"{upper.role} after {lower.role}: roles climb in order {order}")
        if tiers[0].allowed is not None:
            raise ValueError("0.allowed: staff holds the case until the target is due; remove it")
        for index, tier in enumerate(tiers[1:-1], start=1):
            if tier.allowed is None:
                raise ValueError(f"{index}.allowed: {tier.role} needs the time it is allowed")
        if tiers[-1].allowed is not None:
            raise ValueError(
                f"{len(tiers) - 1}.allowed: the top tier is reminded instead (reminder_every)"
            )
        return tiers

    @property
    def key(self) -> str:
        """Return the selector as "process/category/urgency"."""
        return f"{self.process}/{self.category}/{self.urgency}"

    def target(self, kind: TargetKind) -> Duration | None:
        """Return the target of this kind, or None if the ladder has none."""
        return getattr(self.targets, kind.value)

    def rule(self, kind: TargetKind, *detail: str) -> str:
        """Return the name recorded with a due date, e.g. "complaint/*/urgent/first_response"."""
        return "/".join((self.key, kind.value, *detail))


# --- arithmetic on durations ---------------------------------------------------------------


def _calendar(
    duration: Duration, ladder: Ladder, calendars: Mapping[str, WorkingCalendar]
) -> WorkingCalendar:
    return calendars[duration.calendar or ladder.calendar]


def _advance(
    duration: Duration,
    start: datetime,
    calendar: WorkingCalendar,
    pauses: Sequence[Interval] = (),
) -> datetime:
    """Return when the span ends after start on its calendar, the pauses excluded."""
    if duration.working_hours is not None:
        amount = timedelta(hours=duration.working_hours)
    else:
        assert duration.working_days is not None
        # Working days end at end of service on the n-th day; a pause pushes that by the
        # working-day time it took, so the unpaused case lands exactly on end of service.
        unpaused_due = calendar.add_working_days(start, duration.working_days)
        amount = calendar.working_time_between(start, unpaused_due, Clock.WORKING_DAYS)
    return calendar.add_working_time(start, amount, duration.clock, pauses)


def _budget(duration: Duration, start: datetime, calendar: WorkingCalendar) -> timedelta:
    """Return the span's length in running clock time from start."""
    if duration.working_hours is not None:
        return timedelta(hours=duration.working_hours)
    return calendar.working_time_between(
        start, _advance(duration, start, calendar), Clock.WORKING_DAYS
    )


# --- validation ----------------------------------------------------------------------------


def _check_with_calendars(ladder: Ladder, calendars: Mapping[str, WorkingCalendar]) -> list[str]:
    """Return problems only calendars can reveal: unknown names and targets out of order."""
    named: list[tuple[str, Duration]] = [
        (f"targets.{kind}", duration)
        for kind in TargetKind
        if (duration := ladder.target(kind)) is not None
    ]
    named += [
        (f"escalation.{i}.allowed", t.allowed) for i, t in enumerate(ladder.escalation) if t.allowed
    ]
    named.append(("reminder_every", ladder.reminder_every))
    known = ", ".join(sorted(calendars))
    problems = []
    if ladder.calendar not in calendars:
        problems.append(
            f"{ladder.key}.calendar: unknown calendar {ladder.calendar!r} (known: {known})"
        )
    for field, duration in named:
        if duration.calendar is not None and duration.calendar not in calendars:
            problems.append(
                f"{ladder.key}.{field}.calendar: unknown calendar {duration.calendar!r}"
                f" (known: {known})"
            )
    if problems:
        return problems

    def due(kind: TargetKind, start: datetime) -> datetime | None:
        duration = ladder.target(kind)
        if duration is None:
            return None
        return _advance(duration, start, _calendar(duration, ladder, calendars))

    for start in TRIAL_STARTS:
        response = due(TargetKind.FIRST_RESPONSE, start)
        arrival = due(TargetKind.ARRIVAL, start)
        resolution = due(TargetKind.RESOLUTION, start)
        assert response is not None and resolution is not None
        where = f"(trial from {start.isoformat()})"
        if resolution <= response:
            problems.append(
                f"{ladder.key}.targets.resolution: must be longer than first_response {where}"
            )
        if arrival is not None and arrival < response:
            problems.append(
                f"{ladder.key}.targets.arrival: must not be shorter than first_response {where}"
            )
        if arrival is not None and arrival > resolution:
            problems.append(
                f"{ladder.key}.targets.arrival: must not be longer than resolution {where}"
            )
        if problems:
            return problems
    return problems


def validate_ladder(
    data: Mapping[str, Any], calendars: Mapping[str, WorkingCalendar] | None = None
) -> Ladder:
    """Return a ladder validated from a dict (bundled YAML or an admin's override row)."""
    calendars = load_calendars() if calendars is None else calendars
    key = "/".join(str(data.get(f, "?")) for f in ("process", "category", "urgency"))
    try:
        ladder = Ladder.model_validate(data)
    except ValidationError as error:
        raise RuleConfigError(problems_from(error, prefix=key)) from error
    problems = _check_with_calendars(ladder, calendars)
    if problems:
        raise RuleConfigError(problems)
    return ladder


@dataclass(frozen=True)
class SlaBook:
    """All ladders, found by process, category (falling back to "*") and urgency."""

    ladders: Mapping[str, Ladder]

    @classmethod
    def of(cls, ladders: Iterable[Ladder]) -> "SlaBook":
        """Return a book of the ladders; a selector given twice is an error."""
        by_key: dict[str, Ladder] = {}
        for ladder in ladders:
            if ladder.key in by_key:
                raise RuleConfigError([f"{ladder.key}: ladder defined twice"])
            by_key[ladder.key] = ladder
        return cls(MappingProxyType(by_key))

    def ladder_for(self, process: str, category: str, urgency: Urgency | str) -> Ladder:
        """Return the ladder for the category, or the process's "*" ladder if it has none."""
        for chosen in (category, ANY_CATEGORY):
            ladder = self.ladders.get(f"{process}/{chosen}/{urgency}")
            if ladder is not None:
                return ladder
        raise LookupError(f"no SLA ladder for {process}/{category}/{urgency} nor its '*' default")

    def with_overrides(self, overrides: Iterable[Ladder]) -> "SlaBook":
        """Return a book where the override ladders replace those with the same selector."""
        merged = dict(self.ladders)
        merged.update((ladder.key, ladder) for ladder in overrides)
        return SlaBook(MappingProxyType(merged))


def load_ladders(
    path: Path | None = None, calendars: Mapping[str, WorkingCalendar] | None = None
) -> SlaBook:
    """Return the SLA book from YAML (the bundled one by default), validated against calendars."""
    calendars = load_calendars() if calendars is None else calendars
    document = yaml.safe_load((path or BUNDLED_LADDERS).read_text(encoding="utf-8"))
    problems: list[str] = []
    ladders = []
    for entry in document["ladders"]:
        try:
            ladders.append(validate_ladder(entry, calendars))
        except RuleConfigError as error:
            problems += error.problems
    if problems:
        raise RuleConfigError(problems)
    return SlaBook.of(ladders)


# --- the sweep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PausedSpan:
    """A stretch when the clock stood still; `end` is None while it still stands."""

    start: datetime
    end: datetime | None
    reason: PauseReason


@dataclass(frozen=True)
class ClockFacts:
    """What the sweep knows about one running target of one case.

    `tier` and `escalated_at` belong to the case; `warned_at` and `reminded_at` to this target
    (the caller clears them when the next target starts).
    """

    started_at: datetime
    pauses: Sequence[PausedSpan] = ()
    tier: TierRole = TierRole.STAFF
    escalated_at: datetime | None = None
    warned_at: datetime | None = None
    reminded_at: datetime | None = None

    @property
    def is_paused(self) -> bool:
        """Return whether a pause is still open."""
        return any(span.end is None for span in self.pauses)

    def closed_pauses(self) -> list[Interval]:
        """Return the finished pauses as (start, end) intervals."""
        return [(span.start, span.end) for span in self.pauses if span.end is not None]


@dataclass(frozen=True)
class DueMoment:
    """A computed moment and the rule that computed it."""

    at: datetime
    rule: str


@dataclass(frozen=True)
class ClockMoments:
    """The moments a running target's clock sets, whoever holds the case: due, warning, and
    when each tier above staff is brought in (lowest first)."""

    due: DueMoment
    warning: DueMoment
    tiers: tuple[DueMoment, ...]


@dataclass(frozen=True)
class SweepVerdict:
    """What is due for one target at `now`; while paused, nothing is."""

    paused: bool
    due: DueMoment | None = None
    warning: DueMoment | None = None
    warn: bool = False
    next_tier: DueMoment | None = None
    escalate_to: TierRole | None = None
    next_reminder: DueMoment | None = None
    remind: bool = False
    # What the verdict was judged from: the same clock judged again (the case moved up a tier)
    # needs only `judge`, not the calendar arithmetic.
    moments: ClockMoments | None = None

    def next_check_at(self, now: datetime) -> datetime | None:
        """Return the earliest moment after now when the verdict can change, for the index."""
        moments = [
            moment.at
            for moment in (self.warning, self.due, self.next_tier, self.next_reminder)
            if moment is not None and moment.at > now
        ]
        return min(moments, default=None)


def due_moment(
    ladder: Ladder,
    kind: TargetKind,
    facts: ClockFacts,
    calendars: Mapping[str, WorkingCalendar],
) -> DueMoment | None:
    """Return when the target is due given the pauses so far, or None while paused."""
    duration = ladder.target(kind)
    if duration is None or facts.is_paused:
        return None
    calendar = _calendar(duration, ladder, calendars)
    at = _advance(duration, facts.started_at, calendar, facts.closed_pauses())
    return DueMoment(at, ladder.rule(kind))


def warning_moment(
    ladder: Ladder,
    kind: TargetKind,
    facts: ClockFacts,
    calendars: Mapping[str, WorkingCalendar],
) -> DueMoment | None:
    """Return when the warning threshold of the target is crossed, or None while paused."""
    duration = ladder.target(kind)
    if duration is None or facts.is_paused:
        return None
    calendar = _calendar(duration, ladder, calendars)
    warn_after = _budget(duration, facts.started_at, calendar) * ladder.warning_threshold
    at = calendar.add_working_time(
        facts.started_at, warn_after, duration.clock, facts.closed_pauses()
    )
    return DueMoment(at, ladder.rule(kind, "warning"))


def clock_moments(
    ladder: Ladder,
    kind: TargetKind,
    facts: ClockFacts,
    calendars: Mapping[str, WorkingCalendar],
) -> ClockMoments | None:
    """Return the due, warning and tier moments of the target, or None while paused."""
    due = due_moment(ladder, kind, facts, calendars)
    warning = warning_moment(ladder, kind, facts, calendars)
    if due is None or warning is None:
        return None
    tiers = [DueMoment(due.at, ladder.rule(kind, "escalate", ladder.escalation[1].role))]
    for holder, upper in zip(ladder.escalation[1:], ladder.escalation[2:], strict=False):
        assert holder.allowed is not None
        calendar = _calendar(holder.allowed, ladder, calendars)
        at = _advance(holder.allowed, tiers[-1].at, calendar, facts.closed_pauses())
        tiers.append(DueMoment(at, ladder.rule(kind, "escalate", upper.role)))
    return ClockMoments(due, warning, tuple(tiers))


def tier_moments(
    ladder: Ladder,
    kind: TargetKind,
    facts: ClockFacts,
    calendars: Mapping[str, WorkingCalendar],
) -> list[DueMoment]:
    """Return when each tier above staff is brought in for this target, lowest first."""
    moments = clock_moments(ladder, kind, facts, calendars)
    return list(moments.tiers) if moments else []


def _chain_position(ladder: Ladder, tier: TierRole) -> int:
    """Return the index of the highest chain tier not above the case's tier."""
    ranks = [rung.role.rank for rung in ladder.escalation]
    return max(i for i, rank in enumerate(ranks) if rank <= tier.rank)


def sweep(
    ladder: Ladder,
    kind: TargetKind,
    facts: ClockFacts,
    now: datetime,
    calendars: Mapping[str, WorkingCalendar],
) -> SweepVerdict:
    """Return what is due for the target at now: warn, escalate one tier, or remind the top."""
    return judge(ladder, kind, clock_moments(ladder, kind, facts, calendars), facts, now, calendars)


def judge(
    ladder: Ladder,
    kind: TargetKind,
    moments: ClockMoments | None,
    facts: ClockFacts,
    now: datetime,
    calendars: Mapping[str, WorkingCalendar],
) -> SweepVerdict:
    """Return the verdict at now from the clock's moments and who holds the case (`facts`)."""
    if moments is None:
        return SweepVerdict(paused=facts.is_paused)
    due, warning = moments.due, moments.warning
    # A warning after the breach is noise: the escalation already tells people.
    warn = facts.warned_at is None and warning.at <= now < due.at

    position = _chain_position(ladder, facts.tier)
    if position < len(moments.tiers):
        next_tier = moments.tiers[position]
        escalate_to = ladder.escalation[position + 1].role if now >= next_tier.at else None
        return SweepVerdict(False, due, warning, warn, next_tier, escalate_to, moments=moments)

    # Top tier: it hears of this target's breach at once, then every interval while overdue.
    heard_at = max(
        (m for m in (facts.reminded_at, facts.escalated_at) if m is not None), default=None
    )
    if heard_at is None or heard_at < due.at:
        reminder_at = due.at
    else:
        calendar = _calendar(ladder.reminder_every, ladder, calendars)
        reminder_at = _advance(ladder.reminder_every, heard_at, calendar, facts.closed_pauses())
    reminder = DueMoment(reminder_at, ladder.rule(kind, "remind"))
    return SweepVerdict(
        False,
        due,
        warning,
        warn,
        next_reminder=reminder,
        remind=now >= reminder_at,
        moments=moments,
    )


def check_pause(ladder: Ladder, reason: PauseReason) -> None:
    """Raise ValueError unless the ladder lets the clock stop for this reason."""
    if reason not in ladder.pause_on:
        allowed = ", ".join(ladder.pause_on) or "none"
        raise ValueError(f"{ladder.key}: cannot pause for {reason} (allowed: {allowed})")
