"""tickets: title, secondary categories, follow-up count

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ticket", sa.Column("title", sa.Text(), nullable=True))
    op.add_column(
        "ticket", sa.Column("secondary_categories", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column(
        "ticket", sa.Column("follow_up_count", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    # In place on SQLite too (as 0005): a batch copy of ticket would trip its foreign keys.
    op.drop_column("ticket", "follow_up_count")
    op.drop_column("ticket", "secondary_categories")
    op.drop_column("ticket", "title")
