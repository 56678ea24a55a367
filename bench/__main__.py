"""`python -m bench [turnaround sla notify inbox dashboard load] [--postgres URL]`: print figures.

`load` takes `--users N --seconds S --spawn-rate R`, or `--quick` (50 users for 60 s).
"""

import argparse
import importlib.util
import subprocess
import sys

from bench.environment import drop, prepare
from launch.processes import free_port

# Every benchmark, in the order `make bench` runs them; `load` (about ten minutes) last.
BENCHMARKS = ("turnaround", "sla", "notify", "inbox", "dashboard", "load")


def main() -> None:
    """Run the chosen benchmarks, each in a fresh database."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("which", nargs="*", default=list(BENCHMARKS))
    parser.add_argument("--postgres", help="PostgreSQL server URL to run the database part on")
    parser.add_argument("--users", type=int, default=200, help="load: simulated staff")
    parser.add_argument("--seconds", type=float, default=300, help="load: seconds all at work")
    parser.add_argument("--spawn-rate", type=float, default=2, help="load: users starting a second")
    parser.add_argument("--quick", action="store_true", help="load: 50 users for 60 s")
    args = parser.parse_args()
    if args.quick:
        args.users, args.seconds = 50, 60
    if len(args.which) > 1:
        # Each benchmark fills its own fresh database: one process each.
        for name in args.which:
            extra = ["--postgres", args.postgres] if args.postgres else []
            if name == "load":
                extra += ["--users", str(args.users), "--seconds", str(args.seconds),
                          "--spawn-rate", str(args.spawn_rate)]  # fmt: skip
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
        if "load" in args.which:
            if importlib.util.find_spec("locust") is None:
                # The other benchmarks need nothing beyond the product; this one needs locust.
                emit(["Front-desk day under load: skipped, locust is not installed"])
            else:
                from bench.load import load_phase
                from bench.load import run as run_load

                phase = load_phase(args.users, args.spawn_rate, args.seconds)
                emit(run_load(prefect_port, phase))
    finally:
        drop(url, args.postgres)


def emit(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
