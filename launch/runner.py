"""Serve every deployment declared in prefect.yaml from this process (the local flow runner).

The runner starts at most `runner_process_limit` flow-run processes at once (setting
KEFU_RUNNER_PROCESS_LIMIT); further runs stay scheduled until a slot frees. The runner is built
here rather than by Prefect's `serve()`: unless given `limit`, `serve()` hands its runner
`limit=None`, which means no limit at all, so PREFECT_RUNNER_PROCESS_LIMIT never applied (a burst
of 50 complaints started ~69 flow-run processes on two cores); and the runner it builds is out of
reach, so nothing could check the limit it ran with.
"""

import asyncio
import importlib
import logging
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner
from prefect.schedules import Cron, Interval, Schedule

from config import Settings, get_settings
from launch.stack import PREFECT_YAML, declared_deployments

logger = logging.getLogger(__name__)


def runner_deployments(path: Path = PREFECT_YAML) -> list[Any]:
    """Build a served deployment for each one in prefect.yaml, with its schedules."""
    built = []
    for declared in declared_deployments(path):
        flow = _flow_at(declared["entrypoint"])
        schedules = [
            _schedule(declared_schedule) for declared_schedule in declared.get("schedules", [])
        ]
        built.append(
            flow.to_deployment(
                name=declared["name"],
                description=declared.get("description"),
                schedules=schedules,
                tags=declared.get("tags"),
            )
        )
    return built


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


def flow_runner(settings: Settings | None = None) -> Runner:
    """Return the runner of every served deployment, with its limit of flow-run processes."""
    settings = settings or get_settings()
    # Schedules stay active when the runner stops: a restart picks up where it left off.
    return Runner(pause_on_shutdown=False, limit=settings.runner_process_limit)


def main() -> None:
    """Serve the deployments until stopped."""
    runner = flow_runner()
    # One runner serves them all, so the limit bounds their flow runs together.
    for deployment in runner_deployments():
        runner.add_deployment(deployment)
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as signal:
        logger.info("runner stopped by %s", type(signal).__name__)


if __name__ == "__main__":
    main()
