"""new hire final deadline index: the sweep finds retakes whose final deadline has passed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_new_hire_state_final_deadline", "new_hire", ["state", "final_deadline"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_new_hire_state_final_deadline", table_name="new_hire")
