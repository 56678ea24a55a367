"""Serve every deployment declared in prefect.yaml from this process (the local flow runner).

The runner starts at most `runner_process_limit` flow-run processes at once (setting
KEFU_RUNNER_PROCESS_LIMIT); further runs stay scheduled until a slot frees. The runner is built
here rather than by Prefect's `serve()`: unless given `limit`, `serve()` hands its runner
`limit=None`, which means no limit at all, so PREFECT_RUNNER_PROCESS_LIMIT never applied (a burst
of 50 complaints started ~69 flow-run processes on two cores); and the runner it builds is out of
reach, so nothing could check the limit it ran with.

Each flow run (each start, and each resume after a person's step) runs in a process of its own.
Prefect starts it as a fresh interpreter ("spawn"), which imports Prefect and the flows again:
about 3 s of CPU per run on two cores, the larger part of a hand-off. With KEFU_RUNNER_WARM_STARTS
(on by default) a fork server imports them once and forks each run from that warm copy; the run
itself is Prefect's own, unchanged.
"""

import asyncio
import importlib
import logging
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import prefect.flow_engine
from prefect import Flow
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner
from prefect.schedules import Cron, Interval, Schedule

from config import Settings, get_settings
from launch.stack import PREFECT_YAML, declared_deployments

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedFlow:
    """A deployment of prefect.yaml: its flow, name, description, schedules and tags."""

    flow: Flow[..., Any]
    name: str
    description: str | None
    schedules: list[Schedule]
    tags: list[str] | None


def served_flows(path: Path = PREFECT_YAML) -> list[ServedFlow]:
    """Return each deployment of prefect.yaml with its flow and schedules."""
    return [
        ServedFlow(
            flow=_flow_at(declared["entrypoint"]),
            name=declared["name"],
            description=declared.get("description"),
            schedules=[_schedule(entry) for entry in declared.get("schedules", [])],
            tags=declared.get("tags"),
        )
        for declared in declared_deployments(path)
    ]


def _schedule(declared: dict[str, Any]) -> Schedule:
    """Return the schedule a prefect.yaml entry declares (interval seconds or cron, timezone)."""
    timezone = declared.get("timezone")
    if "cron" in declared:
        return Cron(declared["cron"], timezone=timezone)
    if "interval" in declared:
        return Interval(declared["interval"], timezone=timezone)
    raise ValueError(f"prefect.yaml: unsupported schedule {declared}")


def _flow_at(entrypoint: str) -> Flow[..., Any]:
    """Import the flow an entrypoint names ("flows/complaint.py:complaint") as a package module.

    A plain import, rather than Prefect's script loader, reports a broken import as itself
    instead of falling back to a namespace that cannot be deployed.
    """
    file_path, _, attribute = entrypoint.partition(":")
    module = importlib.import_module(file_path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, attribute)
    if not isinstance(flow, Flow):
        raise TypeError(f"{entrypoint} is not a Prefect flow")
    return flow


def warm_flow_starts(modules: list[str]) -> None:
    """Start flow-run processes by forking a server that has imported `modules`, not by spawn."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(["prefect.flow_engine", *modules])
    # Prefect asks its module's `multiprocessing` for the "spawn" context by name; this is the
    # one place that chooses how a flow-run process starts.
    prefect.flow_engine.multiprocessing = SimpleNamespace(  # type: ignore[assignment]
        get_context=lambda _method=None: forkserver, context=multiprocessing.context
    )


def flow_runner(settings: Settings | None = None) -> Runner:
    """Return the runner of every served deployment, with its limit of flow-run processes."""
    settings = settings or get_settings()
    # Schedules stay active when the runner stops: a restart picks up where it left off.
    return Runner(pause_on_shutdown=False, limit=settings.runner_process_limit)


def main() -> None:
    """Serve the deployments until stopped."""
    settings = get_settings()
    runner = flow_runner(settings)
    served = served_flows()
    if settings.runner_warm_starts:
        warm_flow_starts(sorted({flow.flow.fn.__module__ for flow in served}))
    # One runner serves them all, so the limit bounds their flow runs together. `add_flow` keeps
    # the flow object in the runner, which starts each run from it; a deployment added without
    # it has each run import its entrypoint again in a fresh `python -m prefect.engine`.
    for flow in served:
        runner.add_flow(
            flow.flow,
            name=flow.name,
            description=flow.description,
            schedules=flow.schedules,
            tags=flow.tags,
        )
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as signal:
        logger.info("runner stopped by %s", type(signal).__name__)


if __name__ == "__main__":
    main()
