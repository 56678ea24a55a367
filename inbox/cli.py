"""`kefu`: the inbox at a terminal. Talks to the REST API, so the same rules apply everywhere."""

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

app = typer.Typer(help="kefu-flow 客服工作流: 任务收件箱 task inbox", no_args_is_help=True)
complaint_app = typer.Typer(help="投诉 complaints", no_args_is_help=True)
db_app = typer.Typer(help="数据库 database administration", no_args_is_help=True)
app.add_typer(complaint_app, name="complaint")
app.add_typer(db_app, name="db")

CONFIG_DIR = Path(os.environ.get("KEFU_CLI_HOME", Path.home() / ".config" / "kefu-flow"))
DEFAULT_API_URL = "http://127.0.0.1:8000"
REQUEST_TIMEOUT_SECONDS = 30


def _session_file() -> Path:
    return CONFIG_DIR / "session.json"


def _saved() -> dict[str, str]:
    path = _session_file()
    return json.loads(path.read_text()) if path.exists() else {}


def _api_url() -> str:
    return os.environ.get("KEFU_API_URL") or _saved().get("api_url") or DEFAULT_API_URL


def _language() -> str:
    lang = os.environ.get("KEFU_LANG") or os.environ.get("LANG", "")
    return "en" if lang.lower().startswith("en") else "zh-CN"


def _client(authenticated: bool = True, api_url: str | None = None) -> httpx.Client:
    headers = {"Accept-Language": _language()}
    if authenticated:
        token = _saved().get("token")
        if not token:
            _fail("请先登录 Log in first: kefu login USERNAME")
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=api_url or _api_url(), headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
    )


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _call(method: str, path: str, **kwargs: Any) -> Any:
    """Call the API and return its JSON, or print its error (field by field) and exit."""
    try:
        with _client() as client:
            response = client.request(method, f"/api/v1{path}", **kwargs)
    except httpx.TransportError as exc:
        _fail(f"无法连接 cannot reach {_api_url()}: {exc}")
    if response.is_success:
        return response.json()
    error = response.json().get("error", {})
    lines = [error.get("message", response.text)]
    lines += [f"  - {field['message']}" for field in error.get("fields", [])]
    _fail("\n".join(lines))


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@app.command()
def login(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    api_url: Annotated[str, typer.Option(help="API address")] = DEFAULT_API_URL,
) -> None:
    """登录 Log in and remember the token for later commands."""
    try:
        with _client(authenticated=False, api_url=api_url) as client:
            response = client.post(
                "/api/v1/auth/token", data={"username": username, "password": password}
            )
    except httpx.TransportError as exc:
        _fail(f"无法连接 cannot reach {api_url}: {exc}")
    if not response.is_success:
        _fail(response.json()["error"]["message"])
    CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    session_file = _session_file()
    session_file.write_text(
        json.dumps({"api_url": api_url, "token": response.json()["access_token"]})
    )
    session_file.chmod(0o600)  # the token is a credential
    typer.echo(f"已登录 logged in as {username}")


@app.command()
def tasks(
    scope: Annotated[str, typer.Option(help="mine | queue | team | all")] = "mine",
    state: Annotated[str, typer.Option(help="open | done | cancelled")] = "open",
) -> None:
    """我的任务 List tasks: mine, my role's queue, my team's."""
    rows = _call("GET", "/tasks", params={"scope": scope, "state": state})
    if not rows:
        typer.echo("没有任务 no tasks")
    for row in rows:
        holder = row["assignee_id"] or f"[{row['candidate_role']}]"
        due = row["due_at"] or "-"
        typer.echo(
            f"#{row['id']:<6} {row['title']:<16} {row['state']:<6} {holder!s:<10} 截止 {due}"
        )


@app.command()
def show(task_id: int) -> None:
    """查看任务 Show a task and the fields its form asks for."""
    _print(_call("GET", f"/tasks/{task_id}"))


@app.command()
def claim(task_id: int) -> None:
    """认领 Claim a task from your role's queue."""
    _call("POST", f"/tasks/{task_id}/claim")
    typer.echo(f"已认领 claimed #{task_id}")


@app.command()
def unclaim(task_id: int) -> None:
    """退回 Put a task back into its queue."""
    _call("POST", f"/tasks/{task_id}/unclaim")
    typer.echo(f"已退回 released #{task_id}")


@app.command()
def complete(
    task_id: int,
    field: Annotated[
        list[str], typer.Option("--field", "-f", help="name=value; repeat for each field")
    ],
) -> None:
    """完成 Complete a task with its form's fields."""
    decision: dict[str, Any] = {}
    for item in field:
        name, sep, value = item.partition("=")
        if not sep:
            _fail(f"字段格式应为 name=value, got {item!r}")
        try:
            decision[name] = json.loads(value)
        except json.JSONDecodeError:
            decision[name] = value
    result = _call("POST", f"/tasks/{task_id}/complete", json=decision)
    note = "" if result["resumed"] else " (流程稍后继续 the process continues shortly)"
    typer.echo(f"已完成 completed #{task_id}{note}")


@app.command()
def reassign(
    task_id: int,
    to: Annotated[int, typer.Option(help="user id of the new holder")],
    reason: Annotated[str, typer.Option(help="why")],
) -> None:
    """转派 Reassign a task (shift leads and managers)."""
    _call("POST", f"/tasks/{task_id}/reassign", json={"to_user_id": to, "reason": reason})
    typer.echo(f"已转派 reassigned #{task_id}")


@app.command()
def process(process_id: str) -> None:
    """流程 Show a process: state, open tasks and its full history."""
    view = _call("GET", f"/processes/{process_id}")
    typer.echo(f"{view['kind']} {view['state']} — {view['subject']}")
    for event in view["events"]:
        actor = event["actor_name"] or "系统 system"
        typer.echo(f"  {event['at']}  {event['kind']:<20} {actor}")
    for task in view["open_tasks"]:
        typer.echo(f"  待办 open: #{task['id']} {task['title']}")


@complaint_app.command("new")
def new_complaint(
    resident: Annotated[str, typer.Option(help="住户姓名 resident name")],
    unit: Annotated[str, typer.Option(help="房号 household / unit")],
    phone: Annotated[str, typer.Option(help="联系电话 contact phone")],
    description: Annotated[str, typer.Option(help="投诉内容 description")],
    channel: Annotated[str, typer.Option(help="phone | front_desk | wechat | walk_in")] = "phone",
    category: Annotated[str, typer.Option(help="complaint | repair | ...")] = "complaint",
    urgency: Annotated[str, typer.Option(help="urgent | general")] = "general",
) -> None:
    """登记投诉 Record a complaint; you become its first responder."""
    created = _call(
        "POST",
        "/complaints",
        json={
            "resident_name": resident,
            "unit": unit,
            "contact_phone": phone,
            "channel": channel,
            "category": category,
            "urgency": urgency,
            "description": description,
        },
    )
    typer.echo(f"已登记 recorded: process {created['process_id']} ({created['state']})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database to the newest schema."""
    from config import get_settings
    from db.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("database is up to date")
