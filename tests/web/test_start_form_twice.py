"""The web start form carries a key of its own: submitted twice (a double click, a retry after
a timeout) it records one process, and a refused submission can be corrected with the same key."""

import re
import uuid

from fastapi import FastAPI
from sqlalchemy import func, select

from db.models import Complaint
from db.session import transaction
from tests.support.web import logged_in


def complaint_form(description: str, csrf_token: str, key: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token,
        "idempotency_key": key,
        "resident_name": "李女士",
        "unit": "5-2-301",
        "contact_phone": "13900139000",
        "channel": "phone",
        "category": "noise",
        "urgency": "general",
        "description": description,
    }


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found, f"no {name} on the page"
    return found.group(1)


def complaints_described(description: str) -> int:
    with transaction() as session:
        statement = select(func.count()).select_from(Complaint)
        return session.scalar(statement.where(Complaint.description == description)) or 0


def test_the_start_form_submitted_twice_records_one_complaint(app: FastAPI) -> None:
    browser = logged_in(app, "zhangmin")
    page = browser.get("/start/complaint").text
    csrf_token, key = hidden(page, "csrf_token"), hidden(page, "idempotency_key")
    assert browser.get("/start/complaint").text.count(key) == 0  # each form shown has its own
    description = f"双击提交 {uuid.uuid4()}"
    form = complaint_form(description, csrf_token, key)
    first = browser.post("/start/complaint", data=form, follow_redirects=False)
    again = browser.post("/start/complaint", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert complaints_described(description) == 1


def test_a_refused_start_keeps_its_key_for_the_corrected_form(app: FastAPI) -> None:
    browser = logged_in(app, "zhangmin")
    page = browser.get("/start/complaint").text
    csrf_token, key = hidden(page, "csrf_token"), hidden(page, "idempotency_key")
    description = f"先错后改 {uuid.uuid4()}"
    refused = browser.post(
        "/start/complaint", data={**complaint_form(description, csrf_token, key), "unit": ""}
    )
    assert refused.status_code == 422
    assert hidden(refused.text, "idempotency_key") == key
    corrected = browser.post(
        "/start/complaint",
        data=complaint_form(description, csrf_token, key),
        follow_redirects=False,
    )
    assert corrected.status_code == 303
    assert complaints_described(description) == 1
