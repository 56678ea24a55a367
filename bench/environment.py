"""A throw-away environment for one benchmark run, set before any product module reads settings."""

import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

RUN_DIR = Path(tempfile.mkdtemp(prefix="kefu-bench-"))


def prepare(prefect_port: int, postgres_server_url: str | None = None) -> str:
    """Point kefu-flow and Prefect at a fresh database and server port; return the DB URL.

    Prefect reads its settings when imported, so this runs before anything imports it.
    """
    if postgres_server_url:
        name = f"kefu_bench_{uuid.uuid4().hex[:10]}"
        engine = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = make_url(postgres_server_url).set(database=name).render_as_string(False)
    else:
        url = f"sqlite:///{RUN_DIR / 'kefu.db'}"
    os.environ.update(
        {
            "KEFU_ENVIRONMENT": "test",
            "KEFU_DATA_DIR": str(RUN_DIR),
            "KEFU_DATABASE_URL": url,
            "PREFECT_HOME": str(RUN_DIR / "prefect"),
            "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
            "DO_NOT_TRACK": "1",
        }
    )
    return url


def drop(url: str, postgres_server_url: str | None) -> None:
    """Drop the benchmark's PostgreSQL database (SQLite files go with the temp folder)."""
    if not postgres_server_url:
        return
    engine = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        name = make_url(url).database
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def percentile(samples: list[float], share: float) -> float:
    """Return the `share` percentile (0–1) of `samples`, nearest-rank."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]
