"""cluster: requests from web processes to the bot process, and their answers

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 08:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base


revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cluster_request',
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('verb', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('taken_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('taken_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cluster_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cluster_request_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cluster_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cluster_request_state'))

    op.drop_table('cluster_request')
