"""dashboard indexes: the events of a period with their process, a process's events by kind

The operations dashboard (domain/metrics.py) computes its figures from the event history. It
reads a period's events of one kind with their process and keeps those at the chosen sites, then
asks each complaint for its events of one kind (its receipt, closing, escalations, the
completion of its first response) and its first-response task's due time. These covering
indexes answer all of that without reading the rows.

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
            "ix_event_kind_at_process", ["kind", "at", "process_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_event_process_kind_at_task", ["process_id", "kind", "at", "task_id"], unique=False
        )
    with op.batch_alter_table("process", schema=None) as batch_op:
        batch_op.create_index("ix_process_id_site", ["id", "site_id"], unique=False)
    with op.batch_alter_table("inbox_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_task_process_step", ["process_id", "step", "due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox_task", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_task_process_step")
    with op.batch_alter_table("process", schema=None) as batch_op:
        batch_op.drop_index("ix_process_id_site")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_process_kind_at_task")
        batch_op.drop_index("ix_event_kind_at_process")
