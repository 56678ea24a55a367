"""New-hire onboarding end to end: real Prefect server, served runner, driven via the REST API
(the helpers in tests/support/onboarding.py). The site manager's dismissal after the last failed
retake is her browser journey (tests/web/test_site_manager_journey.py).
"""

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from config import get_settings
from db.base import utcnow
from db.models import InboxTask
from db.session import transaction
from launch.embedded import ApiClient, Stack, eventually
from rules.onboarding import BUNDLED_POLICY
from tasks.onboarding import enforce_final_deadlines
from tests.support.factories import new_staff, user_id
from tests.support.onboarding import (
    DAY_SHIFT,
    LOGIN_AT,
    MORNING,
    ONE_DAY,
    choose_mentor,
    exam_task,
    finish,
    local,
    outbox_recipients,
    record,
    register,
    run_training_week,
    set_clock,
    settled,
    suspended_on,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def people(stack: Stack) -> Iterator[dict[str, ApiClient]]:
    """Everyone logged in; the API clock is back on real time after the test."""
    stack.clock = lambda: LOGIN_AT
    try:
        yield {
            name: stack.login(name)
            for name in ("sunli", "zhaolei", "lihua", "wangqiang", "chenjing", "zhangmin")
        }
    finally:
        stack.clock = utcnow


def test_week_over_new_year_then_pass_first_time(
    stack: Stack, people: dict[str, ApiClient]
) -> None:
    hr, supervisor = people["sunli"], people["zhaolei"]
    start = date(2026, 12, 28)
    set_clock(stack, local(date(2026, 12, 24), MORNING))
    process_id, cohort = register(hr, start, trainer="lihua")

    # An engineer is no customer-service mentor: the supervisor is asked again.
    first = choose_mentor(supervisor, process_id, "liugong")
    second = choose_mentor(supervisor, process_id, "wangqiang")
    assert (first["step_key"], second["step_key"]) == ("choose-mentor-1", "choose-mentor-2")
    assert second["context"]["problem"] == "A mentor must be a senior customer-service employee"

    days = run_training_week(
        stack,
        people["lihua"],
        people["wangqiang"],
        process_id,
        start,
        {
            2: {"feedback_form_missing": True},
            3: {"discipline_breaches": 1, "notes": "上课玩手机一次"},
        },
    )
    held_on = [date.fromisoformat(t["context"]["date"]) for t in days]
    # New Year's Day and the weekend after it are skipped.
    assert held_on == [
        date(2026, 12, 28),
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 4),
        date(2027, 1, 5),
    ]

    exam_on = date(2027, 1, 6)
    set_clock(stack, local(exam_on, MORNING))
    exam = exam_task(stack, hr, process_id, 1)
    assert datetime.fromisoformat(exam["available_from"]) == local(exam_on, time(8, 30))
    refused = hr.post(f"/tasks/{exam['id']}/complete", json={"theory": 95, "discipline": 12})
    assert refused.status_code == 422
    fields = {f["field"]: f["message"] for f in refused.json()["error"]["fields"]}
    assert fields == {"theory": "理论成绩: 不能大于 90", "discipline": "培训纪律分: 不能大于 10"}
    finish(hr, exam, {"theory": 70, "discipline": 8})

    done = settled(hr, process_id, "on_post")
    assert done["mentor"]["name"] == "王强"
    assert [d["held_on"] for d in done["training_days"]] == [d.isoformat() for d in held_on]
    assert done["training_days"][4]["notes"] == "第5天跟岗表现良好"
    assert done["training_days"][0]["topic"].startswith("公司及部门介绍")
    assert [(a["total"], a["passed"]) for a in done["exam_attempts"]] == [(78, True)]
    assert sorted(p["points"] for p in done["points"]) == [-1, -1]
    assert done["points_total"] == -2
    assert done["exam_on"] == exam_on.isoformat()

    # The record is HR's and the managers'; a colleague at the front desk may not read it.
    assert record(supervisor, process_id)["state"] == "on_post"
    assert people["zhangmin"].get(f"/onboardings/{process_id}").status_code == 403
    export = hr.get(f"/onboardings/{process_id}/record.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "已正式上岗" in export.text and "78" in export.text

    told = outbox_recipients(process_id, "onboarding_post_taken")
    assert {user_id("sunli"), user_id("zhaolei")} <= told

    rates = hr.ok("GET", "/onboardings/trainers/pass-rates", params={"cohort": cohort})
    assert [(r["status"], r["rate"]) for r in rates[0]["rates"]] == [("met", 1.0)] * 3


@pytest.fixture
def strict_exam_on_day_10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """HR's configuration switched to both variants: the first fail goes to the dismissal
    decision, and the exam falls on the 10th working day. The API (this process) registers."""
    policy = yaml.safe_load(BUNDLED_POLICY.read_text(encoding="utf-8"))
    variant = tmp_path / "onboarding.yaml"
    variant.write_text(
        yaml.safe_dump({**policy, "strict": True, "exam_working_day": 10}, allow_unicode=True),
        encoding="utf-8",
    )
    monkeypatch.setenv("KEFU_ONBOARDING_POLICY_FILE", str(variant))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_strict_variant_with_the_exam_on_the_10th_working_day_first_fail_is_decided(
    stack: Stack, people: dict[str, ApiClient], strict_exam_on_day_10: None
) -> None:
    hr, manager = people["sunli"], people["chenjing"]
    # A trainer of their own: the misses this test causes must not cost a shared one.
    _trainer_id, trainer_username = new_staff("讲师")
    set_clock(stack, LOGIN_AT)
    trainer = stack.login(trainer_username)
    start = date(2027, 6, 7)
    set_clock(stack, local(start - 3 * ONE_DAY, MORNING))
    process_id, _cohort = register(hr, start, trainer=trainer_username)
    choose_mentor(people["zhaolei"], process_id, "wangqiang")
    run_training_week(stack, trainer, people["wangqiang"], process_id, start, {})

    exam_on = DAY_SHIFT.nth_working_day(start, 10)
    set_clock(stack, local(exam_on, MORNING))
    exam = exam_task(stack, hr, process_id, 1)
    assert datetime.fromisoformat(exam["available_from"]) == local(exam_on, time(8, 30))
    finish(hr, exam, {"theory": 40, "discipline": 5, "note": "不合格"})

    # Strict: no retraining; the site manager decides at once.
    decision = manager.open_task(process_id, "onboarding.dismissal-decision", scope="queue")
    manager.ok("POST", f"/tasks/{decision['id']}/claim")
    finish(manager, decision, {"decision": "dismiss", "reason": "严格模式：首次考核不合格"})

    def closed_or_revision() -> tuple[str, dict[str, Any]] | None:
        current = record(hr, process_id)
        if current["process_state"] == "closed":
            return "closed", current
        tasks = trainer.ok("GET", "/tasks", params={"scope": "mine"})
        revise = next(
            (
                t
                for t in tasks
                if t["process_id"] == process_id and t["step"] == "onboarding.revise-training"
            ),
            None,
        )
        return ("revise", revise) if revise else None

    # Each pass-rate target this result missed sends the trainer back to the training.
    what, found = eventually(closed_or_revision, "the trainer's revision or the close")
    while what == "revise":
        finish(trainer, found, {"revision": "增加投诉处理案例演练"})
        what, found = eventually(closed_or_revision, "the trainer's revision or the close")
    done = found
    assert done["state"] == "dismissed"
    assert done["exam_on"] == exam_on.isoformat()
    assert [a["passed"] for a in done["exam_attempts"]] == [False]
    assert done["retrainings"] == []
    assert done["outcome_note"] == "严格模式：首次考核不合格"
    with transaction() as session:
        steps = set(
            session.scalars(select(InboxTask.step).where(InboxTask.process_id == process_id))
        )
    assert "onboarding.retraining" not in steps


def test_the_final_deadline_passes_without_a_pass_and_the_site_manager_decides(
    stack: Stack, people: dict[str, ApiClient]
) -> None:
    hr, manager = people["sunli"], people["chenjing"]
    # A trainer of their own: the misses this test causes must not cost a shared one.
    trainer_id, trainer_username = new_staff("讲师")
    set_clock(stack, LOGIN_AT)
    trainer = stack.login(trainer_username)
    start = date(2027, 4, 6)
    set_clock(stack, local(start - 3 * ONE_DAY, MORNING))
    process_id, _cohort = register(hr, start, trainer=trainer_username)
    choose_mentor(people["zhaolei"], process_id, "wangqiang")
    run_training_week(stack, trainer, people["wangqiang"], process_id, start, {})

    set_clock(stack, local(DAY_SHIFT.nth_working_day(start, 7), MORNING))
    for attempt in (1, 2, 3):
        finish(hr, exam_task(stack, hr, process_id, attempt), {"theory": 40, "discipline": 5})
        retraining = trainer.open_task(process_id, "onboarding.retraining")
        if attempt < 3:
            finish(trainer, retraining, {"notes": "重讲服务规范"})

    # The third fail set the final deadline; it passes with the retraining still open.
    deadline = datetime.fromisoformat(record(hr, process_id)["final_deadline"])
    eventually(lambda: suspended_on(retraining), "the flow to wait on the last retraining")
    assert enforce_final_deadlines.fn(deadline - timedelta(minutes=1)) == {
        "final_deadlines_missed": 0
    }
    assert enforce_final_deadlines.fn(deadline + timedelta(minutes=1)) == {
        "final_deadlines_missed": 1
    }

    decision = manager.open_task(process_id, "onboarding.dismissal-decision", scope="queue")
    assert decision["context"]["attempt"] == 4
    closed = trainer.post(f"/tasks/{retraining['id']}/complete", json={"notes": "太迟了"})
    assert closed.status_code in (404, 409)
    assert outbox_recipients(process_id, "onboarding_final_deadline_missed") >= {
        user_id("sunli"),
        trainer_id,
    }
    history = hr.ok("GET", f"/processes/{process_id}")["events"]
    (why,) = [e for e in history if e["kind"] == "final_deadline_missed"]
    assert why["data"]["final_deadline"] == deadline.isoformat()

    manager.ok("POST", f"/tasks/{decision['id']}/claim")
    finish(manager, decision, {"decision": "dismiss", "reason": "限期内仍未通过考核"})

    def dismissed() -> dict[str, Any] | None:
        current = record(hr, process_id)
        return current if current["state"] == "dismissed" else None

    # (The trainer's pass-rate revisions that follow are the three-fails test's subject.)
    done = eventually(dismissed, "the site manager's dismissal")
    assert done["outcome_note"] == "限期内仍未通过考核"
    assert [(a["passed"], a["late"]) for a in done["exam_attempts"]] == [(False, False)] * 3 + [
        (False, True)
    ]
