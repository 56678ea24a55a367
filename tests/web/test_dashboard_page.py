"""The dashboard page: managers see the month in charts, click through to the cases behind a
number and download the tables; staff are refused. Exact figures: tests/domain/test_metrics.py."""

from fastapi.testclient import TestClient

from db.base import utcnow
from db.models import Complaint
from db.session import transaction
from tests.support.factories import complaint_task
from tests.support.web import logged_in

SVG_CHARTS = 4  # weekly trend, categories, escalation ladder, sites


def test_a_manager_sees_the_month_and_the_cases_behind_a_number(app: object) -> None:
    with transaction() as session:
        task = complaint_task(session, utcnow(), category="parking")
        unit = session.get_one(Complaint, task.process_id).unit
        process_id = task.process_id
    manager: TestClient = logged_in(app, "chenjing")
    page = manager.get("/dashboard")
    assert page.status_code == 200
    # The charts of the page's content (the header's bell is an icon, not a chart).
    assert page.text.partition('<main id="main">')[2].count("<svg") == SVG_CHARTS
    assert "受理及时率" in page.text and "一次性解决" in page.text
    assert "/dashboard/list?site=" in page.text

    listed = manager.get(
        "/dashboard/list", params={"measure": "received", "key": "category:parking"}
    )
    assert listed.status_code == 200
    assert f"/processes/{process_id}" in listed.text and unit in listed.text
    opened = manager.get(f"/processes/{process_id}")
    assert opened.status_code == 200

    csv = manager.get("/dashboard/by_category.csv")
    assert csv.status_code == 200
    assert csv.content.startswith("\ufeff".encode())
    assert "停车" in csv.content.decode("utf-8-sig")


def test_staff_cannot_open_the_dashboard(app: object) -> None:
    staff = logged_in(app, "zhangmin")
    assert staff.get("/dashboard").status_code == 403
    assert staff.get("/dashboard/list", params={"measure": "received"}).status_code == 403
    assert staff.get("/dashboard/complaints.csv").status_code == 403
