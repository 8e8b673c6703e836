"""who acknowledged a notice: the receipt's post, and who made the group count

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00.000000

Written on the loops9 branch while another branch adds 0007: here ``down_revision`` is
"0006" so the branch tests alone; when both are merged it becomes "0007" (the two
touch different tables).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("acked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("acked_via", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("acked_via")
        batch_op.drop_column("acked_by")
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.drop_column("role")
