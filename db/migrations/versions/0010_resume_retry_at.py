"""resume retry time: a completion not handed back waits its turn instead of coming first forever

The sweep hands back completed tasks whose flow run was not resumed, oldest completion first and
at most 100 a tick. A completion made ahead of its step (the flow waits on an earlier one) or one
whose run Prefect lost stayed first in that order for good, so past 100 of them a genuine retry
never got its turn. Each task now records when it is next due a try; a try that leaves it
unresumed moves that time on, and the index serves the due range in that order.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRESUMED = sa.text("state = 'done' AND resumed_at IS NULL")


def _partial(where: sa.TextClause) -> dict[str, sa.TextClause]:
    return {"postgresql_where": where, "sqlite_where": where}


def upgrade() -> None:
    with op.batch_alter_table("inbox_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resume_retry_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_inbox_task_unresumed")
    # Completions waiting now are due at once, in the order they were made.
    op.execute(
        "UPDATE inbox_task SET resume_retry_at = completed_at "
        "WHERE state = 'done' AND resumed_at IS NULL"
    )
    with op.batch_alter_table("inbox_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_task_unresumed", ["state", "resume_retry_at"], **_partial(UNRESUMED)
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox_task", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_task_unresumed")
        batch_op.create_index(
            "ix_inbox_task_unresumed", ["state", "completed_at"], **_partial(UNRESUMED)
        )
        batch_op.drop_column("resume_retry_at")
