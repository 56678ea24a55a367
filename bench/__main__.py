"""`python -m bench [turnaround sla notify inbox dashboard] [--postgres URL]`: print figures."""

import argparse
import subprocess
import sys

from bench.environment import drop, prepare
from launch.processes import free_port

# Every benchmark, in the order `make bench` runs them.
BENCHMARKS = ("turnaround", "sla", "notify", "inbox", "dashboard")


def main() -> None:
    """Run the chosen benchmarks, each in a fresh database."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("which", nargs="*", default=list(BENCHMARKS))
    parser.add_argument("--postgres", help="PostgreSQL server URL to run the database part on")
    args = parser.parse_args()
    if len(args.which) > 1:
        # Each benchmark fills its own fresh database: one process each.
        for name in args.which:
            extra = ["--postgres", args.postgres] if args.postgres else []
            subprocess.run([sys.executable, "-m", "bench", name, *extra], check=False)
        return
    prefect_port = free_port()
    url = prepare(prefect_port, args.postgres)
    try:
        # Imported after prepare(): Prefect and the settings read the environment on import.
        if "sla" in args.which:
            from bench.sla_sweep import run as run_sla

            emit(run_sla())
        if "dashboard" in args.which:
            from bench.dashboard import run as run_dashboard

            emit(run_dashboard())
        if "notify" in args.which:
            from bench.notify_outbox import run as run_notify

            emit(run_notify())
        if "inbox" in args.which:
            from bench.inbox_pages import run as run_inbox

            emit(run_inbox())
        if "turnaround" in args.which:
            from bench.turnaround import run as run_turnaround

            emit(run_turnaround(prefect_port))
    finally:
        drop(url, args.postgres)


def emit(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
