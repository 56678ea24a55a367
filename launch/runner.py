"""Serve every deployment declared in prefect.yaml from this process (the local flow runner)."""

import importlib
from pathlib import Path
from typing import Any

from prefect import Flow, serve
from prefect.schedules import Cron, Interval, Schedule

from launch.stack import PREFECT_YAML, declared_deployments


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


def main() -> None:
    """Serve the deployments until stopped."""
    # Schedules stay active when the runner stops: a restart picks up where it left off.
    serve(*runner_deployments(), pause_on_shutdown=False, print_starting_message=False)


if __name__ == "__main__":
    main()
