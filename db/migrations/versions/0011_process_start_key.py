"""process start keys: a start sent again with the same Idempotency-Key returns the first process

A client that timed out and retried recorded the complaint twice. Each keyed start now records
(user, key) → process in the transaction that records the process; the unique key makes a
parallel repeat wait for the first and then return its process.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "process_start_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"],
            name=op.f("fk_process_start_key_user_id_app_user"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["process_id"], ["process.id"],
            name=op.f("fk_process_start_key_process_id_process"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_start_key")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_process_start_key_user_id_key")),
    )


def downgrade() -> None:
    op.drop_table("process_start_key")
