"""The rules the source documents leave open, as data: the question, our choice and its reason.

Loaded from rules/choices.yaml and checked on load: a choice that names a setting must name one
that exists in that rules file, and the admin rules page shows the value in force next to it.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.config_errors import RuleConfigError, problems_from

RULES_DIR = Path(__file__).parent
BUNDLED_CHOICES = RULES_DIR / "choices.yaml"


class Setting(BaseModel):
    """Where a choice is configured: a rules file and the path of keys and indexes in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(pattern=r"^[a-z_]+\.yaml$")
    path: tuple[str | int, ...] = Field(min_length=1)

    @property
    def dotted(self) -> str:
        """Return the path as `a.b[2].c`."""
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)[1:]


class RuleChoice(BaseModel):
    """One open question of the sources, what the product does, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9-]+$")
    process: Literal["complaint", "training_plan", "onboarding", "resignation"]
    question: str = Field(min_length=1)  # English msgid
    choice: str = Field(min_length=1)  # English msgid
    reason: str = Field(min_length=1)  # English msgid
    setting: Setting | None = None


class ChoiceInForce(BaseModel):
    """A choice with the value its setting has in the rules file now."""

    choice: RuleChoice
    value: Any = None


def _value_at(setting: Setting, rules_dir: Path) -> Any:
    node: Any = yaml.safe_load((rules_dir / setting.file).read_text(encoding="utf-8"))
    for part in setting.path:
        node = node[part]
    return node


def parse_choices(data: Mapping[str, Any], rules_dir: Path = RULES_DIR) -> list[ChoiceInForce]:
    """Return the choices with their settings' values, or raise RuleConfigError naming each
    choice whose setting does not exist."""
    try:
        choices = [RuleChoice.model_validate(c) for c in data.get("choices", [])]
    except ValidationError as error:
        raise RuleConfigError(problems_from(error, prefix="choices")) from error
    in_force, problems = [], []
    for choice in choices:
        if choice.setting is None:
            in_force.append(ChoiceInForce(choice=choice))
            continue
        try:
            value = _value_at(choice.setting, rules_dir)
        except (OSError, KeyError, IndexError, TypeError):
            where = f"{choice.setting.file}: {choice.setting.dotted}"
            problems.append(f"choices.{choice.key}.setting: {where} does not exist")
            continue
        in_force.append(ChoiceInForce(choice=choice, value=value))
    keys = [c.choice.key for c in in_force]
    problems.extend(f"choices.{k}: the key is used twice" for k in set(keys) if keys.count(k) > 1)
    if problems:
        raise RuleConfigError(problems)
    return in_force


def load_choices(path: Path = BUNDLED_CHOICES) -> list[ChoiceInForce]:
    """Return the rule choices from a YAML file (the bundled one by default), checked."""
    return parse_choices(yaml.safe_load(path.read_text(encoding="utf-8")), path.parent)
