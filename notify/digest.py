"""The daily digest: on each working day, after the digest time (site time), one summary per person.

Everyone with open tasks gets theirs (overdue, due today, the rest); shift leads and above also get
their site's team view. Queued through the outbox like any notification, keyed per person and day,
so a second run on the same day queues nothing new.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from db.models import InboxTask, NotificationPreference, Site, TaskState, User
from notify.links import inbox_url, task_link_url
from notify.outbox import enqueue
from notify.preferences import parse_clock
from notify.render import NotificationEvent
from rules.calendar import CalendarBook, WorkingCalendar

ONE_DAY = timedelta(days=1)


@dataclass
class DigestReport:
    """What one digest run did, per site."""

    queued: int = 0
    people: int = 0
    sites_done: list[str] = field(default_factory=list)
    # Sites skipped, with the reason ("rest day", "before 08:30").
    sites_skipped: dict[str, str] = field(default_factory=dict)


def digest_key(day: date, user_id: int) -> str:
    """Return the notification key of one person's digest of `day`."""
    return f"digest:{day.isoformat()}:{user_id}"


def _item(
    task: InboxTask,
    names: Mapping[int, str],
    titles: Mapping[str, str],
    now: datetime,
    settings: Settings,
    *,
    with_holder: bool,
) -> dict[str, Any]:
    return {
        "title": titles.get(task.step, task.step),
        "subject": task.process.subject,
        "due_at": task.due_at,
        "holder": names.get(task.assignee_id or 0) if with_holder else None,
        "url": task_link_url(task.id, now=now, settings=settings),
    }


def _split(
    tasks: Sequence[InboxTask], now: datetime, day_end: datetime
) -> tuple[list[InboxTask], list[InboxTask], list[InboxTask]]:
    overdue = [t for t in tasks if t.due_at is not None and t.due_at < now]
    due_today = [t for t in tasks if t.due_at is not None and now <= t.due_at < day_end]
    rest = [t for t in tasks if t not in overdue and t not in due_today]
    return overdue, due_today, rest


def _by_due(tasks: Sequence[InboxTask]) -> list[InboxTask]:
    return sorted(tasks, key=lambda t: (t.due_at is None, t.due_at or t.created_at, t.id))


def site_digest_day(
    site: Site, now: datetime, calendar: WorkingCalendar, digest_at: time, catch_up: timedelta
) -> tuple[date, str | None]:
    """Return the site's local day, and why no digest goes out now (None when one does)."""
    zone = ZoneInfo(site.timezone)
    local = now.astimezone(zone)
    if not calendar.is_working_day(local.date()):
        return local.date(), "rest day"
    opens = datetime.combine(local.date(), digest_at, tzinfo=zone)
    if local < opens:
        return local.date(), f"before {digest_at:%H:%M}"
    # Someone given work after the digest went out must not get a "digest" of it at noon.
    if local >= opens + catch_up:
        return local.date(), f"after {opens + catch_up:%H:%M}"
    return local.date(), None


def queue_site_digests(
    session: Session,
    site: Site,
    day: date,
    *,
    now: datetime,
    settings: Settings,
    step_titles: Mapping[str, str],
) -> tuple[int, int]:
    """Queue the digests of one site's people for `day`; return (people, outbox rows added)."""
    zone = ZoneInfo(site.timezone)
    day_end = datetime.combine(day + ONE_DAY, time(), tzinfo=zone)
    tasks = _by_due(
        session.scalars(
            select(InboxTask).where(
                InboxTask.site_id == site.id,
                InboxTask.state == TaskState.OPEN,
                InboxTask.available_from <= now,
            )
        ).all()
    )
    people = session.scalars(
        select(User).where(User.site_id == site.id, User.active.is_(True)).order_by(User.id)
    ).all()
    opted_out = set(
        session.scalars(
            select(NotificationPreference.user_id).where(
                NotificationPreference.digest_enabled.is_(False)
            )
        )
    )
    names = {person.id: person.display_name for person in people}
    told = added = 0
    for person in people:
        if person.id in opted_out:
            continue
        mine = [task for task in tasks if task.assignee_id == person.id]
        team = tasks if person.manages else []
        if not mine and not team:
            continue

        def items(chosen: Sequence[InboxTask], with_holder: bool) -> list[dict[str, Any]]:
            return [
                _item(task, names, step_titles, now, settings, with_holder=with_holder)
                for task in chosen
            ]

        overdue, due_today, rest = _split(mine, now, day_end)
        team_view = None
        if team:
            team_overdue, team_due_today, _rest = _split(team, now, day_end)
            team_view = {
                "overdue": items(team_overdue, True),
                "due_today": items(team_due_today, True),
                "open_count": len(team),
                "unassigned_count": sum(1 for task in team if task.assignee_id is None),
            }
        context = {
            "day": day.isoformat(),
            "overdue": items(overdue, False),
            "due_today": items(due_today, False),
            "open": items(rest, False),
            "team": team_view,
            "inbox_url": inbox_url(settings),
        }
        added += enqueue(
            session,
            event=NotificationEvent.DAILY_DIGEST,
            recipients=[person],
            context=context,
            dedup_key=digest_key(day, person.id),
            now=now,
            settings=settings,
            link_url=inbox_url(settings),
            to_group_bots=False,
        )
        told += 1
    return told, added


def queue_daily_digests(
    session: Session,
    *,
    now: datetime,
    settings: Settings,
    calendars: CalendarBook,
    step_titles: Mapping[str, str],
) -> DigestReport:
    """Queue today's digests for every site where it is a working day and past the digest time."""
    digest_at = parse_clock(settings.digest_time)
    catch_up = timedelta(minutes=settings.digest_catch_up_minutes)
    report = DigestReport()
    for site in session.scalars(select(Site).order_by(Site.id)):
        calendar = calendars.for_site(site.code)[settings.digest_calendar]
        day, skip = site_digest_day(site, now, calendar, digest_at, catch_up)
        if skip is not None:
            report.sites_skipped[site.code] = skip
            continue
        people, added = queue_site_digests(
            session, site, day, now=now, settings=settings, step_titles=step_titles
        )
        report.people += people
        report.queued += added
        report.sites_done.append(site.code)
    return report
