"""`python -m bench.sqlite_burst [--before] [--busy-timeout S]`: a burst on SQLite.

Twenty threads read and write the same complaints through the product's services at once,
as flow runs and inbox pages do during a burst of completions; prints how long it took, the
latency of reads and writes and how many failed with "database is locked". `--before` frames
the reads as every transaction was framed before `reading()`: taking the write lock.
"""

import argparse
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from bench.environment import percentile, prepare
from launch.processes import free_port

THREADS = 20
OPERATIONS = 100  # per thread
READ_SHARE = 0.7
CASES = 50


def main() -> None:
    """Run the burst and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_burst")
    parser.add_argument("--before", action="store_true", help="reads take the write lock")
    parser.add_argument("--busy-timeout", type=float, help="seconds a writer waits for the lock")
    args = parser.parse_args()
    prepare(free_port())
    # Imported after prepare(): the settings read the environment on import.
    import db.session
    from config import get_settings
    from db.migrate import upgrade
    from launch.demo import seed_demo

    if args.busy_timeout is not None:
        db.session.SQLITE_BUSY_TIMEOUT_SECONDS = args.busy_timeout  # type: ignore[misc]
    upgrade(get_settings().database_url)
    with db.session.transaction() as session:
        seed_demo(session)
    cases = _complaints()
    frame = db.session.transaction if args.before else db.session.reading
    print(_burst(cases, frame, "before" if args.before else "after"))  # noqa: T201


def _complaints() -> list[str]:
    from sqlalchemy import select

    from db.base import utcnow
    from db.models import User
    from db.session import transaction
    from domain.complaints import record_complaint
    from forms.complaint import ComplaintCreate

    now = utcnow()
    with transaction() as session:
        staff = session.scalars(select(User).where(User.username == "zhangmin")).one()
        intakes = [
            ComplaintCreate(
                resident_name="王先生",
                unit=f"3-1-{n:03d}",
                contact_phone="13800138000",
                channel="phone",
                category="noise",
                urgency="urgent",
                description="楼上噪音",
            )  # fmt: skip
            for n in range(CASES)
        ]
        return [record_complaint(session, staff, intake, now).id for intake in intakes]


def _burst(cases: list[str], read_frame: Callable[[], AbstractContextManager], label: str) -> str:
    from sqlalchemy.exc import OperationalError

    from db.base import utcnow
    from db.session import transaction
    from domain import complaints
    from domain.events import history, record_event

    reads: list[float] = []
    writes: list[float] = []
    locked: list[str] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(OPERATIONS):
            process_id = rng.choice(cases)
            started = time.perf_counter()
            try:
                if rng.random() < READ_SHARE:
                    with read_frame() as session:  # a flow's load, a page's view
                        complaints.get_complaint(session, process_id)
                        history(session, process_id)
                    reads.append(time.perf_counter() - started)
                else:
                    with transaction() as session:  # a step's write
                        complaints.get_complaint(session, process_id)
                        record_event(session, process_id=process_id, kind="bench", at=utcnow())
                    writes.append(time.perf_counter() - started)
            except OperationalError as error:
                if "database is locked" not in str(error):
                    raise
                locked.append(str(error))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started

    def ms(samples: list[float], share: float) -> str:
        return f"{percentile(samples, share) * 1000:.0f}" if samples else "-"

    return (
        f"{label}: {THREADS} threads x {OPERATIONS} ops in {elapsed:.2f} s; "
        f"'database is locked' {len(locked)}; "
        f"reads {len(reads)} p50 {ms(reads, 0.5)} ms p95 {ms(reads, 0.95)} ms "
        f"max {ms(reads, 1.0)} ms; "
        f"writes {len(writes)} p50 {ms(writes, 0.5)} ms p95 {ms(writes, 0.95)} ms "
        f"max {ms(writes, 1.0)} ms"
    )


if __name__ == "__main__":
    main()
