"""Every declared human step, by its persisted name, for the inbox to validate completions.

Each process module in flows/ (named after its ProcessKind) declares its steps in a module-level
STEPS tuple; they are collected here so that adding a process needs no edit to this file.
"""

import importlib
import pkgutil
from typing import Any

import flows
from db.models import ProcessKind
from domain.steps import HumanStep


def _collect() -> dict[str, HumanStep[Any]]:
    steps: dict[str, HumanStep[Any]] = {}
    kinds = {kind.value for kind in ProcessKind}
    for module_info in pkgutil.iter_modules(flows.__path__):
        if module_info.name not in kinds:
            continue  # housekeeping flows (sweep, outbox sender) declare no human steps
        module = importlib.import_module(f"flows.{module_info.name}")
        for step in getattr(module, "STEPS", ()):
            if step.name in steps:
                raise ValueError(f"human step {step.name!r} is declared twice")
            steps[step.name] = step
    return steps


STEPS: dict[str, HumanStep[Any]] = _collect()
# Each step's title (an English msgid), for pages and reports that name steps by title.
STEP_TITLES: dict[str, str] = {name: step.title for name, step in STEPS.items()}
