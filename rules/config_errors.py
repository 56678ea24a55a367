"""Turn validation failures in calendars and ladders into messages an admin can act on."""

from pydantic import ValidationError

# pydantic prefixes messages raised from our own validators; admins do not need to see it.
_VALUE_ERROR_PREFIX = "Value error, "


class RuleConfigError(ValueError):
    """A calendar or ladder is invalid; each problem names the field and says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def problems_from(error: ValidationError, prefix: str = "") -> list[str]:
    """Return one "field: why" line per pydantic error, optionally under a prefix."""
    lines = []
    for detail in error.errors():
        field = ".".join(str(part) for part in (prefix, *detail["loc"]) if part != "")
        message = detail["msg"].removeprefix(_VALUE_ERROR_PREFIX)
        lines.append(f"{field}: {message}" if field else message)
    return lines
