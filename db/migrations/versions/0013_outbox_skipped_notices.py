"""outbox skipped notices: a task notice whose task closed before it went out is skipped, not sent

A 【待办】 (task assigned) notice or a due-soon reminder queued for a task that was completed or
cancelled by the time the sender picked it up told people to do work that was already done. The
sender now marks such a row "skipped" (the state column is a plain string, so the new state needs
no change there) and records why and when.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skip_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("skipped_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Skipped rows go back to a state the old code knows and never sends again by itself.
    op.execute(
        "UPDATE outbox_message SET state = 'dead', last_error = skip_reason "
        "WHERE state = 'skipped'"
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("skipped_at")
        batch_op.drop_column("skip_reason")
