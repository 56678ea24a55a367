"""The local flow runner starts at most the configured number of flow-run processes at once."""

from typing import Any

import prefect.flow_engine
import pytest
from prefect.runner import Runner

from config import Settings
from launch import runner as runner_module
from launch.runner import flow_runner
from launch.stack import declared_deployments

# What two cores take (config/settings.py); Prefect's own default is 5.
DEFAULT_LIMIT = 6


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, environment="test", **overrides)  # type: ignore[call-arg]


def test_the_runner_is_limited_by_default() -> None:
    assert flow_runner(settings()).limit == DEFAULT_LIMIT


def test_the_limit_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_RUNNER_PROCESS_LIMIT", "3")
    assert flow_runner(settings()).limit == 3
    assert flow_runner(settings(runner_process_limit=2)).limit == 2


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="runner_process_limit"):
        settings(runner_process_limit=0)


def test_the_served_deployments_run_under_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner `python -m launch.runner` starts is the limited one (Prefect's `serve()` gave
    its runner limit=None, no limit at all: 50 complaints started ~69 flow-run processes)."""
    started: list[Runner] = []

    async def start(self: Runner, *args: Any, **kwargs: Any) -> None:
        started.append(self)

    added: list[str] = []
    monkeypatch.setenv("KEFU_RUNNER_PROCESS_LIMIT", "4")
    monkeypatch.setattr(runner_module, "get_settings", lambda: settings(runner_warm_starts=False))
    # No Prefect server here: the flows are taken note of, not registered.
    monkeypatch.setattr(Runner, "add_flow", lambda self, flow, name, **_: added.append(name))
    monkeypatch.setattr(Runner, "start", start)

    runner_module.main()

    [runner] = started
    assert runner.limit == 4
    assert added == [d["name"] for d in declared_deployments()]


def test_warm_starts_fork_each_flow_run_from_a_server_that_imported_the_flows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Put back what Prefect's engine used before, whatever this test changes.
    monkeypatch.setattr(prefect.flow_engine, "multiprocessing", prefect.flow_engine.multiprocessing)
    assert prefect.flow_engine.multiprocessing.get_context("spawn").get_start_method() == "spawn"

    runner_module.warm_flow_starts(["flows.complaint"])

    chosen = prefect.flow_engine.multiprocessing.get_context("spawn")
    assert chosen.get_start_method() == "forkserver"
