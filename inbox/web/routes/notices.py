"""The notification centre (the bell) and the live updates of a person's open pages."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from db.models import User
from db.session import reading, transaction
from domain import notices
from inbox.api.deps import ClockDep
from inbox.web.rendering import render
from inbox.web.session import CsrfChecked, WebUser, acting_user

router = APIRouter(include_in_schema=False)

# How often a live page's state is looked at: a new task shows within about this long.
LIVE_CHECK_SECONDS = 1.0
# A comment line this often keeps proxies from closing a quiet stream.
LIVE_PING_SECONDS = 15


@router.get("/notices", response_class=HTMLResponse)
def notices_page(request: Request, user: WebUser) -> HTMLResponse:
    """List my latest notices, unread ones marked."""
    with reading() as session:
        recent = notices.recent_notices(session, user)
    return render(request, "notices.html", {"notices": recent}, user=user)


@router.get("/notices/{notice_id}")
def open_notice(notice_id: int, user: WebUser, clock: ClockDep) -> RedirectResponse:
    """Mark a notice read and go to what it is about: its task, its case, or the list."""
    with transaction() as session:
        notice = notices.open_notice(session, acting_user(session, user), notice_id, clock())
        target = (
            f"/tasks/{notice.task_id}"
            if notice.task_id is not None
            else f"/processes/{notice.process_id}"
            if notice.process_id is not None
            else "/notices"
        )
    return RedirectResponse(target, status_code=303)


@router.post("/notices/read", dependencies=[CsrfChecked])
def mark_all_read(user: WebUser, clock: ClockDep) -> RedirectResponse:
    """Mark all my notices read."""
    with transaction() as session:
        notices.mark_all_read(session, acting_user(session, user), clock())
    return RedirectResponse("/notices", status_code=303)


@router.get("/live")
async def live_updates(request: Request, user: WebUser, clock: ClockDep) -> EventSourceResponse:
    """Server-sent events for my open pages: the unread count, and a nudge when my tasks change."""
    return EventSourceResponse(
        _changes(request, user, clock), ping=LIVE_PING_SECONDS, send_timeout=10
    )


async def _changes(
    request: Request, user: User, clock: Callable[[], datetime]
) -> AsyncIterator[ServerSentEvent]:
    last: notices.LiveState | None = None
    while not await request.is_disconnected():
        state = await run_in_threadpool(_live_state, user, clock())
        if (
            last is None
            or state.unread != last.unread
            or state.latest_notice_id != last.latest_notice_id
        ):
            news = {"unread": state.unread, "latest": state.latest_notice_id}
            yield ServerSentEvent(json.dumps(news), event="notices")
        if last is not None and state.open_task_ids != last.open_task_ids:
            yield ServerSentEvent(json.dumps({"open": len(state.open_task_ids)}), event="tasks")
        last = state
        await asyncio.sleep(LIVE_CHECK_SECONDS)


def _live_state(user: User, now: datetime) -> notices.LiveState:
    with reading() as session:
        return notices.live_state(session, acting_user(session, user), now)
