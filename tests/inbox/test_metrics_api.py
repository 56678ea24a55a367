"""GET /api/v1/metrics: the figures as JSON, each table as CSV, the ids behind a figure; 403 for
those who may not read the dashboard."""

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db.models import (
    Event,
    InboxTask,
    Process,
    ProcessKind,
    ProcessState,
    Role,
    Site,
    User,
    UserRole,
)
from domain.metrics import FIRST_RESPONSE_STEP
from inbox.api.routes import metrics
from tests.support.api import api_clients

BEIJING = ZoneInfo("Asia/Shanghai")
MID_MARCH = datetime(2026, 3, 20, 10, tzinfo=BEIJING)


def add_site(session: Session, name: str) -> Site:
    site = Site(code=f"{name}-{uuid.uuid4().hex[:6]}", name=name, timezone="Asia/Shanghai")
    session.add(site)
    session.flush()
    return site


def add_person(session: Session, site: Site, role: Role) -> User:
    user = User(username=f"{role}-{uuid.uuid4().hex[:6]}", display_name=str(role),
                password_hash="-", site_id=site.id)  # fmt: skip
    user.roles = [UserRole(role=role)]
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def site(session: Session) -> Site:
    """A site with two March complaints: one answered on time, one late (and escalated)."""
    site = add_site(session, "丁管理处")
    staff = add_person(session, site, Role.STAFF)
    for label, done_hour in (("on-time", 10), ("late", 12)):
        process = Process(kind=ProcessKind.COMPLAINT, site_id=site.id, subject=label,
                          state=ProcessState.RUNNING, started_by_id=staff.id)  # fmt: skip
        session.add(process)
        session.flush()
        received = datetime(2026, 3, 2, 9, tzinfo=BEIJING)
        task = InboxTask(process_id=process.id, flow_run_id=str(uuid.uuid4()), step_key="first",
                         step=FIRST_RESPONSE_STEP, state="done", site_id=site.id,
                         assignee_id=staff.id, due_at=received.replace(hour=11))  # fmt: skip
        session.add(task)
        session.flush()
        events = [("complaint_received", received, None, {"category": "noise"}),
                  ("task_completed", received.replace(hour=done_hour), task.id, {})]  # fmt: skip
        if label == "late":
            events.append(("task_escalated", received.replace(hour=11), task.id,
                           {"to_role": "shift_lead"}))  # fmt: skip
        for kind, at, task_id, data in events:
            session.add(Event(process_id=process.id, kind=kind, at=at, task_id=task_id, data=data))
    session.flush()
    return site


@pytest.fixture
def client_for(session: Session) -> Iterator[Callable[[User], TestClient]]:
    with api_clients(session, [metrics.router], MID_MARCH) as client:
        yield client


def test_a_shift_lead_reads_this_months_figures(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    lead = add_person(session, site, Role.SHIFT_LEAD)

    response = client_for(lead).get("/api/v1/metrics")

    assert response.status_code == 200
    body = response.json()
    figures = body["figures"]
    # Default: the reader's site, March (the month of the clock), as of now.
    assert figures["site_id"] == site.id
    assert figures["start"] == "2026-03-01T00:00:00+08:00"
    complaints = figures["complaints"]
    assert complaints["received"] == 2
    assert complaints["acceptance"] == {"on_time": 1, "late": 1, "pending": 0, "rate": 0.5}
    assert complaints["escalation"] == {"numerator": 1, "denominator": 2, "value": 0.5}
    assert [step["reached"] for step in figures["escalation_ladder"]] == [2, 1, 0, 0, 0]
    assert body["labels"]["tier:shift_lead"] == "客服班长"
    assert body["labels"]["category:noise"] == "噪音扰民"


def test_a_period_in_site_time(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    manager = add_person(session, site, Role.SITE_MANAGER)
    client = client_for(manager)

    # Naive times are the site's wall clock: March 2 09:00 Beijing is inside, 01:00 UTC.
    inside = client.get("/api/v1/metrics", params={"start": "2026-03-02T09:00:00",
                                                   "end": "2026-03-03T00:00:00"})  # fmt: skip
    after = client.get("/api/v1/metrics", params={"start": "2026-03-02T09:00:01"})
    backwards = client.get("/api/v1/metrics", params={"start": "2026-03-02", "end": "2026-03-01"})

    assert inside.json()["figures"]["complaints"]["received"] == 2
    assert after.json()["figures"]["complaints"]["received"] == 0
    assert backwards.status_code == 422
    assert backwards.json()["error"]["fields"][0]["field"] == "end"


def test_staff_may_not_read_the_dashboard(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    staff = add_person(session, site, Role.STAFF)

    response = client_for(staff).get("/api/v1/metrics")

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "只有客服班长、客服主管、管理处经理、品质部和运营管理员可以查看运营看板",
    }
    assert client_for(staff).get("/api/v1/metrics/complaints.csv").status_code == 403
    drill = client_for(staff).get("/api/v1/metrics/drilldown", params={"measure": "received"})
    assert drill.status_code == 403


def test_a_site_manager_may_not_read_another_site(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    manager = add_person(session, site, Role.SITE_MANAGER)
    other = add_site(session, "戊管理处")

    response = client_for(manager).get("/api/v1/metrics", params={"site_id": other.id})

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "您只能查看本管理处的运营看板"


def test_quality_compares_every_site(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    quality = add_person(session, add_site(session, "品质部"), Role.QUALITY)

    response = client_for(quality).get("/api/v1/metrics", params={"site_id": site.id})

    assert response.status_code == 200
    by_site = {row["key"]: row for row in response.json()["figures"]["by_site"]}
    assert by_site[f"site:{site.id}"]["received"] == 2
    assert by_site[f"site:{site.id}"]["name"] == "丁管理处"


def test_csv_export_has_the_header_row_and_opens_in_excel(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    lead = add_person(session, site, Role.SHIFT_LEAD)

    response = client_for(lead).get("/api/v1/metrics/by_category.csv")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        ["类别", "已受理", "已关闭", "已升级", "受理及时率"],
        ["噪音扰民", "2", "0", "1", "50.0%"],
    ]


def test_an_unknown_table_is_refused(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    lead = add_person(session, site, Role.SHIFT_LEAD)

    assert client_for(lead).get("/api/v1/metrics/salaries.csv").status_code == 422


def test_drilldown_returns_the_ids_behind_a_figure(
    session: Session, site: Site, client_for: Callable[[User], TestClient]
) -> None:
    lead = add_person(session, site, Role.SHIFT_LEAD)
    client = client_for(lead)
    late = session.query(Process).filter_by(site_id=site.id, subject="late").one()

    response = client.get("/api/v1/metrics/drilldown", params={"measure": "accepted_late"})
    by_tier = client.get(
        "/api/v1/metrics/drilldown", params={"measure": "received", "key": "tier:shift_lead"}
    )
    bad_key = client.get(
        "/api/v1/metrics/drilldown", params={"measure": "rated", "key": "category:noise"}
    )

    assert response.status_code == 200
    assert response.json() == {"measure": "accepted_late", "key": "", "total": 1,
                               "process_ids": [late.id], "task_ids": []}  # fmt: skip
    assert by_tier.json()["process_ids"] == [late.id]
    assert bad_key.status_code == 422
    assert bad_key.json()["error"]["fields"][0]["message"].startswith("key")
