"""The web inbox at scale: its list pages with 100,000 open tasks, next to the same pages over an
empty inbox, rendered end to end through the app (session cookie, query, template)."""

import re
import statistics
import time
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from bench.environment import percentile
from config import get_settings
from db.base import utcnow
from db.migrate import upgrade
from db.models import Complaint, InboxTask, Process, ProcessKind, ProcessState, User
from db.session import get_engine, transaction
from inbox.api.app import create_app
from launch.demo import DEMO_PASSWORD, seed_demo

OPEN_TASKS = 100_000
CASES = 10_000
INSERT_BATCH = 10_000
REQUESTS = 20
TARGET_MS = 300
# (label, who, address): the pages a person opens most, plus a deep page and the filters.
PAGES = [
    ("my tasks, page 1", "zhangmin", "/inbox?view=mine"),
    ("my tasks, page 1000", "zhangmin", "/inbox?view=mine&page=1000"),
    ("role queue, page 1", "wangqiang", "/inbox?view=queue"),
    ("team, overdue first", "lihua", "/inbox?view=team"),
    ("team, urgent + search", "lihua", "/inbox?view=team&urgency=urgent&q=3-1-0042"),
]


def logged_in(app: object, username: str) -> TestClient:
    client = TestClient(app)  # type: ignore[arg-type]
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    data = {"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data).url.path == "/inbox"
    return client


def time_pages(clients: dict[str, TestClient]) -> dict[str, tuple[float, float]]:
    """Return (p50, p95) in ms of each page over REQUESTS requests."""
    figures = {}
    for label, who, address in PAGES:
        samples = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            response = clients[who].get(address)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (address, response.status_code)
        figures[label] = (statistics.median(samples), percentile(samples, 0.95))
    return figures


def run() -> list[str]:
    """Fill the inbox, time its pages before and after, and return the lines to print."""
    upgrade(get_settings().database_url)
    with transaction() as session:
        seed_demo(session)
        people = {u.username: u for u in session.scalars(select(User))}
    app = create_app()
    clients = {who: logged_in(app, who) for _, who, _ in PAGES}
    empty = time_pages(clients)
    started = time.perf_counter()
    fill(people)
    fill_s = time.perf_counter() - started
    full = time_pages(clients)
    lines = [
        f"Web inbox pages ({get_engine().dialect.name}; {OPEN_TASKS:,} open tasks over "
        f"{CASES:,} complaints inserted in {fill_s:.0f} s; {REQUESTS} requests each)",
        f"  {'page':<24} {'empty p50':>10} {'full p50':>10} {'full p95':>10} {'ratio':>7}",
    ]
    for label, _, _ in PAGES:
        (empty_p50, _), (p50, p95) = empty[label], full[label]
        lines.append(
            f"  {label:<24} {empty_p50:8.1f} ms {p50:8.1f} ms {p95:8.1f} ms {p50 / empty_p50:6.2f}×"
        )
    worst = max(p95 for _, p95 in full.values())
    lines.append(f"  slowest p95 {worst:.1f} ms (target ≤ {TARGET_MS} ms)")
    return lines


def fill(people: dict[str, User]) -> None:
    """Insert CASES complaints and OPEN_TASKS open tasks: half held by zhangmin, half queued."""
    now = utcnow()
    staff = people["zhangmin"]
    run_id = str(uuid.uuid4())
    process_ids = [str(uuid.uuid4()) for _ in range(CASES)]
    with transaction() as session:
        session.execute(
            insert(Process),
            [
                {
                    "id": pid,
                    "kind": ProcessKind.COMPLAINT,
                    "site_id": staff.site_id,
                    "subject": f"3-1-{i:04d} 楼上噪音",
                    "state": ProcessState.RUNNING,
                    "started_by_id": staff.id,
                    "started_at": now,
                }  # fmt: skip
                for i, pid in enumerate(process_ids)
            ],
        )
        session.execute(
            insert(Complaint),
            [
                {
                    "process_id": pid,
                    "resident_name": "王先生",
                    "unit": f"3-1-{i:04d}",
                    "contact_phone": "13800138000",
                    "channel": "phone",
                    "category": "noise",
                    "urgency": "urgent" if i % 3 == 0 else "general",
                    "description": "噪音",
                    "state": "received",
                    "first_responder_id": staff.id,
                    "owner_of_record_id": staff.id,
                    "received_at": now,
                }  # fmt: skip
                for i, pid in enumerate(process_ids)
            ],
        )
    for offset in range(0, OPEN_TASKS, INSERT_BATCH):
        rows = [
            {
                "process_id": process_ids[(offset + i) % CASES],
                "flow_run_id": run_id,
                "step_key": f"bench-{offset + i}",
                "step": "complaint.resolution",
                "state": "open",
                "site_id": staff.site_id,
                "assignee_id": staff.id if (offset + i) % 2 == 0 else None,
                "candidate_role": "staff",
                "owner_of_record_id": staff.id,
                "available_from": now - timedelta(hours=1),
                "announced_at": now,
                "due_at": now + timedelta(minutes=offset + i - OPEN_TASKS // 2),
                "context": {"urgency": "urgent"},
                "created_at": now - timedelta(hours=1),
                "tier": "staff",
            }
            for i in range(min(INSERT_BATCH, OPEN_TASKS - offset))
        ]
        with transaction() as session:
            session.execute(insert(InboxTask), rows)
