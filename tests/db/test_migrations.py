"""The migrations build exactly the tables the models declare, on the run's database."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import db.models  # noqa: F401  (every model registered on the metadata)
from db.base import Base
from db.session import get_engine


def test_the_migrated_schema_is_the_models_schema(demo_org: None) -> None:
    # The run's database was built by `alembic upgrade head` (the demo_org fixture).
    with get_engine().connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
