"""The raw Prefect floor: a deployed flow that only suspends and is resumed, no inbox work."""

from prefect import flow
from prefect.flow_runs import suspend_flow_run
from pydantic import BaseModel

DEPLOYMENT = "bench-floor/bench-floor"


class Go(BaseModel):
    step: int


@flow(name="bench-floor", persist_result=True)
def bench_floor(steps: int) -> int:
    """Suspend `steps` times in a row, each waiting for one input."""
    for step in range(steps):
        suspend_flow_run(wait_for_input=Go, key=f"step-{step}", timeout=None)
    return steps


if __name__ == "__main__":
    bench_floor.serve(name="bench-floor", print_starting_message=False)
