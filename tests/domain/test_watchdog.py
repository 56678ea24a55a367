"""The watchdog's record: restarts in a row, the flag for ops, and what counts as moving on."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from db.models import InboxTask, Process, ProcessState, TaskState
from domain import watchdog
from domain.events import record_event
from tests.support.factories import complaint_task

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def running_complaint(session: Session) -> InboxTask:
    task = complaint_task(session, NOW - timedelta(hours=1))
    process = session.get_one(Process, task.process_id)
    process.state, process.flow_run_id = ProcessState.RUNNING, task.flow_run_id
    session.flush()
    return task


def restart(session: Session, process_id: str) -> bool:
    streak = watchdog.restart_streak(session, process_id)
    return watchdog.record_restart(session, process_id, streak, "crashed", NOW)


def test_restarts_count_in_a_row_until_the_process_moves_on(session: Session) -> None:
    process_id = running_complaint(session).process_id
    assert watchdog.restart_streak(session, process_id).restarts == 0

    assert restart(session, process_id)
    assert restart(session, process_id)
    assert watchdog.restart_streak(session, process_id).restarts == 2

    record_event(session, process_id=process_id, kind="task_completed", at=NOW)
    assert watchdog.restart_streak(session, process_id).restarts == 0


def test_a_restart_is_claimed_once_when_two_watchdogs_judge_the_same_streak(
    session: Session,
) -> None:
    process_id = running_complaint(session).process_id
    streak = watchdog.restart_streak(session, process_id)
    assert watchdog.record_restart(session, process_id, streak, "crashed", NOW)
    assert not watchdog.record_restart(session, process_id, streak, "crashed", NOW)


def test_a_flagged_process_is_listed_for_ops_until_it_moves_on_or_closes(
    session: Session,
) -> None:
    task = running_complaint(session)
    process_id = task.process_id
    others = watchdog.flagged_count(session)
    restart(session, process_id)
    streak = watchdog.restart_streak(session, process_id)

    assert watchdog.flag_for_ops(session, process_id, streak, "stuck-submitting", NOW)
    assert not watchdog.flag_for_ops(session, process_id, streak, "stuck-submitting", NOW)

    assert watchdog.restart_streak(session, process_id).flagged
    listed = [p for p in watchdog.flagged_processes(session, 100) if p.process_id == process_id]
    assert [(p.reason, p.restarts, p.flow_run_id) for p in listed] == [
        ("stuck-submitting", 1, task.flow_run_id)
    ]
    assert watchdog.flagged_count(session) == others + 1

    # Ops start it again in Prefect and it goes on: no longer a problem.
    record_event(session, process_id=process_id, kind="task_completed", at=NOW)
    assert watchdog.flagged_count(session) == others
    assert not watchdog.restart_streak(session, process_id).flagged


def test_a_lost_runs_tasks_go_to_the_run_that_replaces_it(session: Session) -> None:
    task = running_complaint(session)
    lost = task.flow_run_id
    task.state = TaskState.DONE
    session.flush()
    assert not watchdog.has_open_task(session, task.process_id)

    watchdog.move_to_run(session, task.process_id, lost, "replacement-run")

    session.expire_all()
    assert session.get_one(Process, task.process_id).flow_run_id == "replacement-run"
    assert session.get_one(InboxTask, task.id).flow_run_id == "replacement-run"


def test_running_processes_are_read_in_id_order_batch_by_batch(session: Session) -> None:
    mine = sorted(running_complaint(session).process_id for _ in range(3))
    seen: list[str] = []
    after = ""
    while batch := watchdog.running_processes(session, after, 2):
        seen.extend(p.process_id for p in batch)
        after = batch[-1].process_id
    assert seen == sorted(seen)
    assert set(mine) <= set(seen)
