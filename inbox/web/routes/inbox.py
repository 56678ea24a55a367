"""The inbox lists: my tasks, my role's queue, upcoming, done, the team's, approvals."""

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, model_validator

from db.models import Complaint, InboxTask, ProcessKind, Site, User
from db.models.complaint import Urgency
from db.session import transaction
from domain import inbox, saved_views, task_access
from domain.errors import DomainError, Invalid
from domain.people import colleagues
from flows.catalog import STEPS
from i18n import gettext_for
from inbox.api.deps import ClockDep
from inbox.web.rendering import countdown, page_locale, render
from inbox.web.session import CsrfChecked, WebUser, acting_user

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
APPROVAL_STEPS = frozenset(name for name, step in STEPS.items() if step.approval)


class InboxQuery(BaseModel):
    """The filters of an inbox page, as they appear in its address."""

    view: str = Field(default="mine", pattern="^(" + "|".join(inbox.SCOPES[:-1]) + ")$")
    process: ProcessKind | None = None
    urgency: Urgency | None = None
    due: str | None = Field(default=None, pattern="^(" + "|".join(inbox.DUE_WINDOWS) + ")$")
    q: str | None = Field(default=None, max_length=100)
    site: int | None = None
    page: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_any(cls, values: Any) -> Any:
        """Read a filter left at "any" (the form sends it as an empty value) as not set."""
        if isinstance(values, dict):
            return {k: v for k, v in values.items() if v not in ("", None)}
        return values

    def query_string(self, **changes: Any) -> str:
        """Return these filters, with `changes` applied, as a URL query string."""
        values = {**self.model_dump(exclude_none=True), **changes}
        values = {k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("page", 1)}
        return urlencode(values)

    def address(self, **changes: Any) -> str:
        """Return the inbox URL of these filters with `changes` applied."""
        return "/inbox?" + self.query_string(**changes)


def due_before(window: str | None, now: datetime, timezone: str) -> datetime | None:
    """Return the end of a due-date window in the site's time zone."""
    if window is None:
        return None
    if window == "overdue":
        return now
    local = now.astimezone(ZoneInfo(timezone))
    day_end = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return day_end if window == "today" else day_end + timedelta(days=6)


def task_rows(tasks: list[InboxTask], session: Any, now: datetime) -> list[dict[str, Any]]:
    """Return what each row of a task list shows."""
    complaints = {
        c.process_id: c
        for c in session.query(Complaint).filter(
            Complaint.process_id.in_({t.process_id for t in tasks})
        )
    }
    holders = {
        u.id: u.display_name
        for u in session.query(User).filter(User.id.in_({t.assignee_id for t in tasks}))
    }
    return [
        {
            "task": task,
            "title": STEPS[task.step].title,
            "urgency": complaints[task.process_id].urgency
            if task.process_id in complaints
            else task.context.get("urgency"),
            "holder": holders.get(task.assignee_id) if task.assignee_id else None,
            "sla": countdown(task.due_at, task.sla_started_at or task.created_at, now),
            "approval": task.step in APPROVAL_STEPS,
        }
        for task in tasks
    ]


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """Send the visitor to their tasks."""
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request, user: WebUser, clock: ClockDep, query: Annotated[InboxQuery, Query()]
) -> HTMLResponse:
    """Show one of the inbox's views, filtered and paginated."""
    now = clock()
    criteria = inbox.TaskFilter(
        scope=query.view,
        process_kind=query.process,
        due_before=due_before(query.due, now, user.site.timezone),
        limit=PAGE_SIZE + 1,  # one more than shown tells whether a next page exists
        offset=(query.page - 1) * PAGE_SIZE,
        site_id=query.site,
        urgency=query.urgency,
        search=query.q,
        approval_steps=APPROVAL_STEPS,
    )
    with transaction() as session:
        tasks = inbox.list_tasks(session, acting_user(session, user), criteria, now)
        context = {
            "query": query,
            "rows": task_rows(tasks[:PAGE_SIZE], session, now),
            "has_next": len(tasks) > PAGE_SIZE,
            "saved": saved_views.views_for(session, user),
            "people": colleagues(session, user.site_id),
            "sites": session.query(Site).order_by(Site.id).all(),
            "kinds": list(ProcessKind),
            "urgencies": list(Urgency),
        }
    # The filter form asks for the list alone; a boosted link or redirect wants the whole page.
    partial = request.headers.get("hx-target") == "task-list"
    template = "_task_list.html" if partial else "inbox.html"
    return render(request, template, context, user=user)


@router.post("/inbox/bulk", dependencies=[CsrfChecked])
def bulk_action(
    request: Request,
    user: WebUser,
    clock: ClockDep,
    action: Annotated[str, Form()],
    task_ids: Annotated[list[int] | None, Form()] = None,
    back: Annotated[str, Form()] = "/inbox",
    to_user_id: Annotated[int | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Claim or assign the ticked tasks; each succeeds or is reported on its own."""
    gettext = gettext_for(page_locale(request, user))
    task_ids = task_ids or []
    failures = [] if task_ids else [gettext("Tick the tasks first, then choose what to do")]
    done = 0
    for task_id in task_ids:
        try:
            with transaction() as session:
                actor = acting_user(session, user)
                if action == "claim":
                    inbox.claim(session, actor, task_id, clock())
                elif action == "assign" and to_user_id is not None:
                    task = task_access.get_task(session, actor, task_id)
                    inbox.reassign(
                        session, actor, task_id, to_user_id, reason, STEPS[task.step], clock()
                    )
                else:
                    raise Invalid.field("to_user_id", "Choose who gets the tasks")
            done += 1
        except DomainError as error:
            failures.append(f"#{task_id}: {gettext(error.message).format(**error.params)}")
    request.session["flash"] = {"done": done, "failed": failures}
    return RedirectResponse(back if back.startswith("/inbox") else "/inbox", status_code=303)


@router.post("/inbox/views", dependencies=[CsrfChecked])
def save_view(
    user: WebUser,
    clock: ClockDep,
    name: Annotated[str, Form()],
    query: Annotated[str, Form()],
) -> RedirectResponse:
    """Keep the current filters under a name of my choosing."""
    with transaction() as session:
        saved_views.save_view(session, acting_user(session, user), name, query, clock())
    return RedirectResponse("/inbox?" + query, status_code=303)


@router.post("/inbox/views/{view_id}/delete", dependencies=[CsrfChecked])
def delete_view(view_id: int, user: WebUser) -> RedirectResponse:
    """Forget one of my saved views."""
    with transaction() as session:
        saved_views.delete_view(session, acting_user(session, user), view_id)
    return RedirectResponse("/inbox", status_code=303)
