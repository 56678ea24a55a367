"""A test run's databases: a SQLite file in its folder, or a PostgreSQL database of its own."""

import os
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def postgres_server_url() -> str | None:
    """Return the PostgreSQL server the run was asked to use, or None for SQLite."""
    return os.environ.get("KEFU_TEST_POSTGRES_URL") or None


def create_database(folder: Path, name: str) -> str:
    """Create an empty database called `name` and return its URL."""
    server_url = postgres_server_url()
    if server_url is None:
        return f"sqlite:///{folder / f'{name}.db'}"
    database = f"{name}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    engine.dispose()
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database `create_database` made (a SQLite file goes with its folder)."""
    server_url = postgres_server_url()
    if server_url is None or url.startswith("sqlite"):
        return
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        database = make_url(url).database
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    engine.dispose()
