"""The dashboard's tests run against the run's real database; each test's writes are rolled back."""

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session


@pytest.fixture
def session(demo_org: None) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    from db.session import get_engine

    connection = get_engine().connect()
    outer = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield db_session
    finally:
        db_session.close()
        outer.rollback()
        connection.close()
