"""form drafts: a form posted after the session ended waits server-side, not in the cookie

The signed session cookie held the whole draft; a browser drops a Set-Cookie over ~4 KB, so a
long form (a training plan, a long complaint description) was silently lost. The draft now waits
in this table and the cookie holds only its random key.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_draft",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("page", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"],
            name=op.f("fk_form_draft_user_id_app_user"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_form_draft")),
    )
    op.create_index(op.f("ix_form_draft_expires_at"), "form_draft", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_form_draft_expires_at"), table_name="form_draft")
    op.drop_table("form_draft")
