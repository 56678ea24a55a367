"""overdue check without a ladder: open tasks with a due time but no SLA ladder are checked once

Tasks of onboarding and resignation carry a due time but run no escalation ladder; nothing looked
at them when it passed. The sweep now tells the holder and the owner of record once, at the due
time (inbox_task.next_check_at). Tasks opened before this revision get that check time here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE inbox_task SET next_check_at = due_at WHERE state = 'open'"
        " AND sla_ladder IS NULL AND due_at IS NOT NULL AND next_check_at IS NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE inbox_task SET next_check_at = NULL WHERE sla_ladder IS NULL")
