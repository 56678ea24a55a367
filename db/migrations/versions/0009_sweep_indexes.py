"""sweep indexes: the partial indexes lead with the state, substitutions in force are a seek

SQLite plans without statistics and takes an equality on an indexed column for a few rows. The
unannounced and unresumed partial indexes covered only the time column, so the planner chose
`(state, next_check_at)` for `state = ? AND ...` and read every open (or done) task. With the
state first, the partial index matches the same equality plus the time range and the order, and
the sweep's idle tick stays a seek whatever the database holds. The substitutions in force
(`starts_at <= now < ends_at`, not cancelled) were a full scan of the whole out-of-office history.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNANNOUNCED = sa.text("state = 'open' AND announced_at IS NULL")
UNRESUMED = sa.text("state = 'done' AND resumed_at IS NULL")
NOT_CANCELLED = sa.text("cancelled_at IS NULL")


def _partial(where: sa.TextClause) -> dict[str, sa.TextClause]:
    return {"postgresql_where": where, "sqlite_where": where}


def upgrade() -> None:
    with op.batch_alter_table("inbox_task", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_task_unannounced")
        batch_op.create_index(
            "ix_inbox_task_unannounced", ["state", "available_from"], **_partial(UNANNOUNCED)
        )
        batch_op.drop_index("ix_inbox_task_unresumed")
        batch_op.create_index(
            "ix_inbox_task_unresumed", ["state", "completed_at"], **_partial(UNRESUMED)
        )
    with op.batch_alter_table("substitution", schema=None) as batch_op:
        batch_op.create_index(
            "ix_substitution_in_force", ["ends_at", "starts_at"], **_partial(NOT_CANCELLED)
        )


def downgrade() -> None:
    with op.batch_alter_table("substitution", schema=None) as batch_op:
        batch_op.drop_index("ix_substitution_in_force")
    with op.batch_alter_table("inbox_task", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_task_unresumed")
        batch_op.create_index("ix_inbox_task_unresumed", ["completed_at"], **_partial(UNRESUMED))
        batch_op.drop_index("ix_inbox_task_unannounced")
        batch_op.create_index(
            "ix_inbox_task_unannounced", ["available_from"], **_partial(UNANNOUNCED)
        )
