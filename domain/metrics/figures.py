"""The pieces every process's figures are made of: shares, rates and deadlines met."""

from pydantic import BaseModel, ConfigDict, computed_field

# A deadline's verdict, as coded in SQL: a complaint's acceptance, a training plan's milestone.
ACCEPTANCE_PENDING, ACCEPTED_ON_TIME, ACCEPTED_LATE = 0, 1, 2


def share(part: int, whole: int) -> float | None:
    """Return part / whole (0–1), or None when there is nothing to divide."""
    return part / whole if whole else None


class Figure(BaseModel):
    """A read-only piece of the dashboard."""

    model_config = ConfigDict(frozen=True)


class Rate(Figure):
    """A share: how many of how many."""

    numerator: int
    denominator: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def value(self) -> float | None:
        """Return the share (0–1), or None when there is nothing to divide."""
        return share(self.numerator, self.denominator)


class Timeliness(Figure):
    """How many met their deadline, missed it, or cannot be judged yet."""

    on_time: int
    late: int
    pending: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """Return the share on time among those that can be judged."""
        judged = self.on_time + self.late
        return share(self.on_time, judged)
