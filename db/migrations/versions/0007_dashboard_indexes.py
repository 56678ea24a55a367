"""dashboard indexes: the events of one kind of one process

The operations dashboard computes its figures from the event history; per complaint it asks
for the events of one kind (its closing, its escalations, its first response), which
(process_id, at) alone answers only by reading every event of the process.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_process_kind_at", ["process_id", "kind", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_process_kind_at")
