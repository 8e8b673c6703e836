"""cluster: account leases (fencing epochs), the worker registry, job runs once per period

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base


revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_lease',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('lease_until', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('renewed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['bot_account.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id')
    )
    with op.batch_alter_table('account_lease', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_lease_worker_id'), ['worker_id'], unique=False)

    op.create_table('cluster_worker',
    sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('heartbeat_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker_id')
    )
    with op.batch_alter_table('cluster_worker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cluster_worker_heartbeat_at'), ['heartbeat_at'], unique=False)

    op.create_table('cluster_job_run',
    sa.Column('job_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('period_start', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ran_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job_key', 'period_start')
    )


def downgrade() -> None:
    op.drop_table('cluster_job_run')
    with op.batch_alter_table('cluster_worker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cluster_worker_heartbeat_at'))

    op.drop_table('cluster_worker')
    with op.batch_alter_table('account_lease', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_lease_worker_id'))

    op.drop_table('account_lease')
