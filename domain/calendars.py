"""The working calendars in force at each site (rules/calendars.yaml, loaded once per process)."""

from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Process, Site
from rules.calendar import CalendarBook, WorkingCalendar, load_calendar_book


@cache
def calendar_book() -> CalendarBook:
    """Return the shared calendars and the sites' own versions, validated once per process."""
    return load_calendar_book()


def site_calendars(session: Session, site_id: int | None) -> dict[str, WorkingCalendar]:
    """Return the calendars that apply at a site: its own versions over the shared ones."""
    book = calendar_book()
    if not book.by_site or site_id is None:
        return book.shared  # no site keeps its own: spare the lookup
    # A site's code never changes: looked up once per session, not once per task of a sweep.
    codes: dict[int, str | None] = session.info.setdefault("site_codes", {})
    if site_id not in codes:
        codes[site_id] = session.scalar(select(Site.code).where(Site.id == site_id))
    return book.for_site(codes[site_id])


def process_calendar(session: Session, process_id: str, name: str) -> WorkingCalendar:
    """Return the named calendar as the process's site keeps it."""
    site_id = session.scalar(select(Process.site_id).where(Process.id == process_id))
    return site_calendars(session, site_id)[name]
