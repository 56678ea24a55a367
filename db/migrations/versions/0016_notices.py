"""notices: the notification centre's copy of each notification, per person, with its read time

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=48), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["app_user.id"],
            name=op.f("fk_notice_recipient_id_app_user"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["process_id"], ["process.id"], name=op.f("fk_notice_process_id_process")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["inbox_task.id"], name=op.f("fk_notice_task_id_inbox_task")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notice_dedup_key")),
    )
    op.create_index("ix_notice_recipient_read", "notice", ["recipient_id", "read_at"])


def downgrade() -> None:
    op.drop_index("ix_notice_recipient_read", table_name="notice")
    op.drop_table("notice")
