"""Driving a new hire's onboarding through the REST API as HR, the supervisor, the trainer and
the mentor do, with the inbox clock set to each working day (tests/flows and the site manager's
browser journey).

The inbox lists a task only once the clock reaches its `available_from`; everyone logs in with the
clock at LOGIN_AT, after every scenario, so their tokens stay valid at every earlier moment.
"""

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from prefect.client.orchestration import get_client
from sqlalchemy import select

from db.models import InboxTask, OutboxMessage
from db.session import transaction
from launch.embedded import ApiClient, Stack, eventually
from rules.calendar import load_calendars
from rules.onboarding import load_policy, training_schedule
from tests.support.factories import user_id

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
    assert created["state"] in ("starting", "running")  # starting: Prefect slow to answer
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
