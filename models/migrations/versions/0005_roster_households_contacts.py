"""unit households (户数), party members' contact households (党员联系户)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 10:00:00.000000

Written on the roster branch while another branch adds 0004: when both are merged,
``down_revision`` here becomes "0004" (the two touch different tables).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("households", sa.Integer(), nullable=True))
    # Shops and facilities count as one household; a residential unit's number comes
    # with the next roster import (until then it is unknown, and an export leaves the
    # cell empty for the town to fill in).
    op.execute(
        "UPDATE org_unit SET households = 1 WHERE level = 'unit' AND kind IN ('shop', 'facility')"
    )
    op.create_table(
        "household_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "org_unit_id"),
    )
    with op.batch_alter_table("household_contact", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_household_contact_org_unit_id"), ["org_unit_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_household_contact_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("household_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_contact_person_id"))
        batch_op.drop_index(batch_op.f("ix_household_contact_org_unit_id"))
    op.drop_table("household_contact")
    # Not in batch mode: on SQLite a batch would copy org_unit and drop the original,
    # which its own rows (parent_id) and other tables still reference. SQLite drops a
    # plain column in place since 3.35.
    op.drop_column("org_unit", "households")
