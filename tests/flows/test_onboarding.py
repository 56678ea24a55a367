"""New-hire onboarding end to end: real Prefect server, served runner, driven via the REST API.

The inbox lists a task only once the API clock reaches its `available_from`, so each training
day is driven with `stack.clock` set to that working day. Everyone logs in with the clock set
after the whole scenario, so their tokens stay valid at every earlier test moment.
"""

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.client.orchestration import get_client
from sqlalchemy import select

from config import get_settings
from db.base import utcnow
from db.models import InboxTask, OutboxMessage, User
from db.session import transaction
from launch.embedded import ApiClient, Stack, eventually
from rules.calendar import load_calendars
from rules.onboarding import BUNDLED_POLICY, load_policy, training_schedule
from tasks.onboarding import enforce_final_deadlines
from tests.support.factories import new_staff

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_SHIFT = load_calendars()["day_shift"]
MORNING = time(9, 0)
ONE_DAY = timedelta(days=1)
EVENING = time(20, 0)
# After every scenario below: tokens issued then stay valid at every earlier clock.
LOGIN_AT = datetime(2027, 6, 30, 12, 0, tzinfo=SHANGHAI)


def local(day: date, at: time) -> datetime:
    """Return a Shanghai wall-clock moment on `day`."""
    return datetime.combine(day, at, tzinfo=SHANGHAI)


def user_id(username: str) -> int:
    with transaction() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


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


def suspended_on(task: dict[str, Any]) -> bool:
    """Return whether the task's flow run is paused on it."""
    with transaction() as session:
        flow_run_id = session.get_one(InboxTask, task["id"]).flow_run_id
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    return bool(state and state.is_paused() and state.state_details.pause_key == task["step_key"])


def finish(client: ApiClient, task: dict[str, Any], decision: dict[str, Any]) -> None:
    """Complete a task once its flow run has finished suspending on it, so that the test's
    clock steps happen in order."""
    eventually(lambda: suspended_on(task), f"the flow to suspend on {task['step_key']}")
    client.complete(task["id"], decision)


def set_clock(stack: Stack, moment: datetime) -> None:
    stack.clock = lambda: moment


def register(hr: ApiClient, start: date, trainer: str, **extra: Any) -> tuple[str, str]:
    """Register a new hire; return the process id and the hire's own cohort."""
    cohort = f"t-{uuid.uuid4().hex[:10]}"
    intake = {
        "name": f"新员工{uuid.uuid4().hex[:4]}",
        "post": "前台客服",
        "start_date": start.isoformat(),
        "trainer_id": user_id(trainer),
        "cohort": cohort,
        **extra,
    }
    created = hr.ok("POST", "/onboardings", json=intake)
    assert created["state"] == "running"
    return str(created["process_id"]), cohort


def choose_mentor(supervisor: ApiClient, process_id: str, mentor: str) -> dict[str, Any]:
    task = supervisor.open_task(process_id, "onboarding.choose-mentor", scope="queue")
    supervisor.ok("POST", f"/tasks/{task['id']}/claim")
    finish(supervisor, task, {"mentor_id": user_id(mentor), "note": "经验丰富"})
    return task


def run_training_week(
    stack: Stack,
    trainer: ApiClient,
    mentor: ApiClient,
    process_id: str,
    start: date,
    reports: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Confirm every training day on its own working day; return the day tasks."""
    tasks = []
    for day in training_schedule(load_policy(), DAY_SHIFT, start):
        holder = mentor if day.with_mentor else trainer
        step = "onboarding.mentor-shift" if day.with_mentor else "onboarding.training-day"
        set_clock(stack, local(day.on, MORNING))
        task = holder.open_task(process_id, step)
        assert task["step_key"] == f"day-{day.day}"
        assert datetime.fromisoformat(task["available_from"]) == local(day.on, time(8, 30))
        assert datetime.fromisoformat(task["due_at"]) == local(day.on, time(17, 30))
        # The evening before its working day the task is not in the inbox yet.
        set_clock(stack, local(day.on - ONE_DAY, EVENING))
        assert task["id"] not in [t["id"] for t in holder.ok("GET", "/tasks")]
        set_clock(stack, local(day.on, MORNING))
        default = {"notes": f"第{day.day}天跟岗表现良好"} if day.with_mentor else {}
        finish(holder, task, reports.get(day.day, default))
        tasks.append(task)
    return tasks


def exam_task(stack: Stack, hr: ApiClient, process_id: str, attempt: int) -> dict[str, Any]:
    task = hr.open_task(process_id, "onboarding.exam")
    assert task["step_key"] == f"exam-{attempt}"
    return task


def record(client: ApiClient, process_id: str) -> dict[str, Any]:
    result = client.ok("GET", f"/onboardings/{process_id}")
    assert isinstance(result, dict)
    return result


def settled(client: ApiClient, process_id: str, state: str) -> dict[str, Any]:
    """Wait until the process is closed with the hire in `state`; return the record."""

    def probe() -> dict[str, Any] | None:
        current = record(client, process_id)
        return (
            current if current["process_state"] == "closed" and current["state"] == state else None
        )

    return eventually(probe, f"onboarding {process_id} to close as {state}")


def outbox_recipients(process_id: str, event: str) -> set[int]:
    with transaction() as session:
        return set(
            session.scalars(
                select(OutboxMessage.recipient_id).where(
                    OutboxMessage.process_id == process_id, OutboxMessage.event == event
                )
            )
        )


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


def test_three_fails_then_the_final_retake_fails_and_the_site_manager_dismisses(
    stack: Stack, people: dict[str, ApiClient]
) -> None:
    hr, manager = people["sunli"], people["chenjing"]
    start = date(2027, 3, 1)
    set_clock(stack, local(date(2027, 2, 26), MORNING))
    # HR trains this cohort herself.
    process_id, cohort = register(hr, start, trainer="sunli")
    choose_mentor(people["zhaolei"], process_id, "wangqiang")
    reports = {1: {"unexcused_absence": True}}
    run_training_week(stack, hr, people["wangqiang"], process_id, start, reports)

    set_clock(stack, local(DAY_SHIFT.nth_working_day(start, 7), MORNING))
    for attempt in (1, 2, 3, 4):
        exam = exam_task(stack, hr, process_id, attempt)
        finish(hr, exam, {"theory": 40, "discipline": 5, "note": "不合格"})
        if attempt < 4:
            retraining = hr.open_task(process_id, "onboarding.retraining")
            assert retraining["step_key"] == f"retraining-{attempt}"
            finish(hr, retraining, {"notes": "重讲服务规范与投诉处理流程"})

    decision = manager.open_task(process_id, "onboarding.dismissal-decision", scope="queue")
    refused = manager.post(f"/tasks/{decision['id']}/complete", json={"decision": "dismiss"})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "reason"
    manager.ok("POST", f"/tasks/{decision['id']}/claim")
    finish(manager, decision, {"decision": "dismiss", "reason": "最后期限内仍未通过考核"})

    # Each missed pass-rate target (0 % by attempts 1, 2 and 3) sends the trainer back.
    for attempt in (1, 2, 3):
        revise = hr.open_task(process_id, "onboarding.revise-training")
        assert revise["step_key"] == f"revise-training-{attempt}"
        finish(hr, revise, {"revision": f"第{attempt}次：增加案例演练"})

    done = settled(hr, process_id, "dismissed")
    exam_points = [p["points"] for p in done["points"] if p["reason"] == "exam_fail"]
    assert exam_points == [-3, -6, -10]
    assert done["points_total"] == -2 - 3 - 6 - 10
    assert [a["passed"] for a in done["exam_attempts"]] == [False] * 4
    assert len(done["retrainings"]) == 3
    assert done["final_deadline"] is not None
    assert done["outcome_note"] == "最后期限内仍未通过考核"
    assert user_id("sunli") in outbox_recipients(process_id, "onboarding_dismissed")
    assert len(outbox_recipients(process_id, "onboarding_exam_failed")) >= 1

    rates = hr.ok("GET", "/onboardings/trainers/pass-rates", params={"cohort": cohort})
    assert [r["status"] for r in rates[0]["rates"]] == ["missed"] * 3
    # The third miss costs the trainer the qualification: no new cohort for her.
    assert rates[0]["disqualified"] is True
    refused = hr.post(
        "/onboardings",
        json={
            "name": "李四",
            "post": "管家",
            "start_date": "2027-04-01",
            "trainer_id": user_id("sunli"),
        },
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["message"] == "培训讲师: 该讲师已被取消培训资格"


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
