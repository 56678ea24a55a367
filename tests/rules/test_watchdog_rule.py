"""The watchdog's rule: which flow runs of running processes must start over, and when."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.watchdog import RunSnapshot, WatchdogPolicy, restart_reason

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
POLICY = WatchdogPolicy(stuck_after=timedelta(minutes=15))


def run(state_type: str, name: str, minutes_ago: float) -> RunSnapshot:
    return RunSnapshot(state_type, name, NOW - timedelta(minutes=minutes_ago))


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (run("FAILED", "Failed", 0), "failed"),
        (run("CRASHED", "Crashed", 0), "crashed"),
        (run("CANCELLED", "Cancelled", 0), "cancelled"),
        (run("PENDING", "Submitting", 15), "stuck-submitting"),
        (run("PENDING", "Pending", 16), "stuck-pending"),
        (run("RUNNING", "Running", 30), "stuck-running"),
        (run("SCHEDULED", "Late", 15), "late"),
    ],
)
def test_a_dead_or_stuck_run_starts_over(snapshot: RunSnapshot, reason: str) -> None:
    assert restart_reason(snapshot, True, NOW, POLICY) == reason


@pytest.mark.parametrize(
    "snapshot",
    [
        run("PAUSED", "Suspended", 60 * 24 * 30),  # a person has had a month to decide: fine
        run("PENDING", "Submitting", 14),
        run("RUNNING", "Running", 14),
        run("SCHEDULED", "Scheduled", -5),  # due in five minutes
        run("SCHEDULED", "Resuming", 14),
        run("COMPLETED", "Completed", 60),
    ],
)
def test_a_waiting_or_recent_run_is_left_alone(snapshot: RunSnapshot) -> None:
    assert restart_reason(snapshot, True, NOW, POLICY) is None


def test_a_lost_run_starts_over_only_when_nobody_can_act_on_the_process() -> None:
    assert restart_reason(None, False, NOW, POLICY) == "missing"
    # With a task open, the person's completion reaches the inbox, and the sweep reports the
    # run it cannot resume.
    assert restart_reason(None, True, NOW, POLICY) is None


def test_the_bound_is_configurable() -> None:
    patient = WatchdogPolicy(stuck_after=timedelta(hours=2))
    assert restart_reason(run("RUNNING", "Running", 30), True, NOW, patient) is None
    assert restart_reason(run("RUNNING", "Running", 121), True, NOW, patient) == "stuck-running"
