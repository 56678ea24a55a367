"""The admin pages, for ops admins only: users and their roles and channels, sites, the rules.

Every other person gets the 403 page, on every page and every form. Refused input comes back as
typed (passwords excepted), with each field's error; each accepted write is audited by the
service (domain/admin.py) and listed on the overview.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from db.models import Role, User
from db.session import transaction
from domain import admin
from domain.errors import Invalid
from i18n import gettext_for
from inbox.api.deps import ClockDep
from inbox.web.form_fields import errors_by_path
from inbox.web.rendering import page_locale, render
from inbox.web.session import CsrfChecked, WebUser, acting_user
from notify.secrets import BOT_KEY_ENV_PREFIX
from rules.choices import load_choices

router = APIRouter(prefix="/admin", include_in_schema=False)
# A one-time line shown on the page a successful form redirects to.
NOTICE_KEY = "admin_notice"
# Row ids are PostgreSQL integers; a bigger number in a form or an address names no row.
MAX_ID = 2**31 - 1
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]


def ops_admin(user: WebUser) -> User:
    """Return the logged-in person if they are an ops admin; anyone else gets the 403 page."""
    admin.require_ops_admin(user)
    return user


OpsAdmin = Annotated[User, Depends(ops_admin)]


def _as_id(value: str | None) -> int | None:
    """Return a submitted id as a number, or None when it is empty or names no row."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        return None
    return int(text)


def _errors(request: Request, user: User, refusal: Invalid) -> dict[str, str]:
    return errors_by_path(refusal.problems, gettext_for(page_locale(request, user)))


def _notify(request: Request, message: str) -> None:
    request.session[NOTICE_KEY] = message


def _common(request: Request, now: datetime, section: str) -> dict[str, Any]:
    return {
        "section": section,
        "now": now,
        "notice": request.session.pop(NOTICE_KEY, None),
        "is_locked": admin.is_locked,
        # The forms show the same limits the service enforces.
        "limits": {
            "username_min": admin.USERNAME_MIN_CHARS,
            "username_max": admin.USERNAME_MAX_CHARS,
            "display_name_max": admin.DISPLAY_NAME_MAX_CHARS,
            "email_max": admin.EMAIL_MAX_CHARS,
            "password_min": admin.MIN_PASSWORD_CHARS,
            "password_max": admin.MAX_PASSWORD_CHARS,
            "site_code_max": admin.SITE_CODE_MAX_CHARS,
            "site_name_max": admin.SITE_NAME_MAX_CHARS,
            "wecom_userid_max": admin.WECOM_USERID_MAX_CHARS,
        },
    }


# --- overview ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def overview(request: Request, user: OpsAdmin, clock: ClockDep) -> HTMLResponse:
    """Show what there is to administer and the latest changes made here."""
    now = clock()
    with transaction() as session:
        actor = acting_user(session, user)
        users = admin.list_users(session, actor)
        sites = admin.list_sites(session, actor)
        rules = admin.rules_in_force(actor)
        context = {
            **_common(request, now, "overview"),
            "figures": {
                "users": sum(1 for u in users if u.active),
                "inactive": sum(1 for u in users if not u.active),
                "locked": sum(1 for u in users if admin.is_locked(u, now)),
                "sites": len(sites),
                "calendars": len(rules.calendars),
                "ladders": len(rules.book.ladders),
            },
            "changes": admin.recent_changes(session),
            "site_names": {s.id: s.name for s in sites},
        }
        return render(request, "admin_overview.html", context, user=user)


# --- users ---------------------------------------------------------------------------------


def _users_page(
    request: Request,
    user: User,
    now: datetime,
    site_filter: int | None,
    form: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    with transaction() as session:
        actor = acting_user(session, user)
        context = {
            **_common(request, now, "users"),
            "users": admin.list_users(session, actor, site_filter),
            "sites": admin.list_sites(session, actor),
            "site_filter": site_filter,
            "roles": list(Role),
            "form": form,
            "errors": errors,
        }
        return render(request, "admin_users.html", context, user=user, status_code=status_code)


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request, user: OpsAdmin, clock: ClockDep, site: str | None = None
) -> HTMLResponse:
    """List the people (of one site, if chosen) with roles and state, and the form to add one."""
    blank = {"username": "", "display_name": "", "email": "", "site_id": "", "roles": []}
    return _users_page(request, user, clock(), _as_id(site), blank, {})


@router.post("/users", dependencies=[CsrfChecked])
def create_user(
    request: Request,
    user: OpsAdmin,
    clock: ClockDep,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    site_id: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    password: Annotated[str, Form()] = "",
) -> Response:
    """Create an account; refused input comes back as typed, except the password."""
    form = {
        "username": username,
        "display_name": display_name,
        "email": email,
        "site_id": site_id,
        "roles": roles or [],
    }
    try:
        with transaction() as session:
            created = admin.create_user(
                session, acting_user(session, user), username=username,
                display_name=display_name, password=password, site_id=_as_id(site_id),
                roles=roles or [], email=email, now=clock(),
            )  # fmt: skip
    except Invalid as refusal:
        errors = _errors(request, user, refusal)
        return _users_page(request, user, clock(), None, form, errors, refusal.status)
    _notify(request, "The account is created; tell the person their username and password.")
    return RedirectResponse(f"/admin/users/{created.id}", status_code=303)


def _user_page(
    request: Request,
    user: User,
    now: datetime,
    user_id: int,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a person's page: their stored values, overlaid with what was just typed."""
    with transaction() as session:
        actor = acting_user(session, user)
        target = admin.get_user(session, actor, user_id)
        preference = admin.channels_of(session, actor, target)
        sites = admin.list_sites(session, actor)
        values = {
            "display_name": target.display_name,
            "email": target.email or "",
            "site_id": str(target.site_id),
            "roles": [str(r.role) for r in target.roles],
            "active": target.active,
            "wecom_userid": preference.wecom_userid or "",
            "email_enabled": preference.email_enabled,
            "wecom_enabled": preference.wecom_enabled,
            **(typed or {}),
        }
        context = {
            **_common(request, now, "users"),
            "target": target,
            "values": values,
            "errors": errors or {},
            "sites": sites,
            "site_names": {s.id: s.name for s in sites},
            "roles": list(Role),
            "changes": admin.recent_changes(session, about_user=target.id),
        }
        return render(request, "admin_user.html", context, user=user, status_code=status_code)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: UserId, user: OpsAdmin, clock: ClockDep) -> HTMLResponse:
    """Show a person's account, password and lockout, channel addresses and their changes."""
    return _user_page(request, user, clock(), user_id)


@router.get("/users/{user_id}/{part}")
def back_to_user_page(
    user_id: UserId,
    part: Annotated[str, Path(pattern="^(password|unlock|channels)$")],
    user: OpsAdmin,
) -> RedirectResponse:
    """Send a reload of a refused form's address (or the language switch) to the person's page."""
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/users/{user_id}", dependencies=[CsrfChecked])
def update_user(
    request: Request,
    user_id: UserId,
    user: OpsAdmin,
    clock: ClockDep,
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    site_id: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    active: Annotated[bool, Form()] = False,
) -> Response:
    """Change a person's name, email, site, roles or active state (deactivating logs them out)."""
    typed = {
        "display_name": display_name,
        "email": email,
        "site_id": site_id,
        "roles": roles or [],
        "active": active,
    }
    try:
        with transaction() as session:
            admin.update_user(
                session, acting_user(session, user), user_id, display_name, email,
                _as_id(site_id), roles or [], active, clock(),
            )  # fmt: skip
    except Invalid as refusal:
        errors = _errors(request, user, refusal)
        return _user_page(request, user, clock(), user_id, typed, errors, refusal.status)
    _notify(request, "Saved.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/password", dependencies=[CsrfChecked])
def reset_password(
    request: Request,
    user_id: UserId,
    user: OpsAdmin,
    clock: ClockDep,
    new_password: Annotated[str, Form()] = "",
) -> Response:
    """Give a person a new password; it also lifts a lockout and ends their logins."""
    try:
        with transaction() as session:
            admin.reset_password(
                session, acting_user(session, user), user_id, new_password, clock()
            )
    except Invalid as refusal:
        errors = _errors(request, user, refusal)
        return _user_page(request, user, clock(), user_id, None, errors, refusal.status)
    _notify(request, "The password is reset; tell the person the new one.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/unlock", dependencies=[CsrfChecked])
def unlock(request: Request, user_id: UserId, user: OpsAdmin, clock: ClockDep) -> Response:
    """Let a person locked out by wrong passwords try again at once."""
    with transaction() as session:
        admin.unlock(session, acting_user(session, user), user_id, clock())
    _notify(request, "The account is unlocked.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/channels", dependencies=[CsrfChecked])
def set_channels(
    request: Request,
    user_id: UserId,
    user: OpsAdmin,
    clock: ClockDep,
    wecom_userid: Annotated[str, Form()] = "",
    email_enabled: Annotated[bool, Form()] = False,
    wecom_enabled: Annotated[bool, Form()] = False,
) -> Response:
    """Set where a person is reached: their WeCom userid, and email and WeCom on or off."""
    typed = {
        "wecom_userid": wecom_userid,
        "email_enabled": email_enabled,
        "wecom_enabled": wecom_enabled,
    }
    try:
        with transaction() as session:
            admin.set_channels(
                session, acting_user(session, user), user_id, wecom_userid, email_enabled,
                wecom_enabled, clock(),
            )  # fmt: skip
    except Invalid as refusal:
        errors = _errors(request, user, refusal)
        return _user_page(request, user, clock(), user_id, typed, errors, refusal.status)
    _notify(request, "Saved.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


# --- sites ---------------------------------------------------------------------------------


def _sites_page(
    request: Request,
    user: User,
    now: datetime,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    with transaction() as session:
        actor = acting_user(session, user)
        sites = admin.list_sites(session, actor)
        context = {
            **_common(request, now, "sites"),
            "sites": sites,
            "site_names": {s.id: s.name for s in sites},
            "head_counts": admin.active_user_counts(session, actor),
            "bots": admin.list_group_bots(session, actor),
            "bot_key_prefix": BOT_KEY_ENV_PREFIX,
            "timezones": sorted(admin.known_timezones()),
            "form": form,
            "errors": errors,
        }
        return render(request, "admin_sites.html", context, user=user, status_code=status_code)


@router.get("/sites", response_class=HTMLResponse)
def sites_page(request: Request, user: OpsAdmin, clock: ClockDep) -> HTMLResponse:
    """List the sites with their time zone and group bots, and the form to add one."""
    blank = {"code": "", "name": "", "timezone": "Asia/Shanghai"}
    return _sites_page(request, user, clock(), blank, {})


@router.post("/sites", dependencies=[CsrfChecked])
def create_site(
    request: Request,
    user: OpsAdmin,
    clock: ClockDep,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    """Create a site; refused input comes back as typed."""
    try:
        with transaction() as session:
            admin.create_site(session, acting_user(session, user), code, name, timezone, clock())
    except Invalid as refusal:
        form = {"code": code, "name": name, "timezone": timezone}
        errors = _errors(request, user, refusal)
        return _sites_page(request, user, clock(), form, errors, refusal.status)
    _notify(request, "The site is created.")
    return RedirectResponse("/admin/sites", status_code=303)


# --- rules ---------------------------------------------------------------------------------


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: OpsAdmin, clock: ClockDep) -> HTMLResponse:
    """Show the working calendars and SLA ladders in force, where they come from, how to change,
    and the choices made where the source documents are silent."""
    now = clock()
    rules = admin.rules_in_force(user)
    year = now.year
    context = {
        **_common(request, now, "rules"),
        "rules": rules,
        "years": [year, year + 1],
        "choices": load_choices(),
    }
    return render(request, "admin_rules.html", context, user=user)
