"""unreachable contacts: people no bot account can write to privately

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unreachable_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("first_failed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("asked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undelivered", sa.Integer(), nullable=False),
        sa.Column("held", sa.JSON(), nullable=False),
        sa.Column("reachable_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id"),
    )
    with op.batch_alter_table("unreachable_contact", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_unreachable_contact_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_unreachable_contact_reachable_at"), ["reachable_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("unreachable_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unreachable_contact_reachable_at"))
        batch_op.drop_index(batch_op.f("ix_unreachable_contact_person_id"))
    op.drop_table("unreachable_contact")
