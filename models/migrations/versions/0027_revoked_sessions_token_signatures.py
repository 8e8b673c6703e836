"""Revoked sessions, a token's fixed signature, the token that issued a notice

- ``revoked_session``: a sign-out ends the session on the server; its cookie, which could
  still be decrypted until it expires, is refused from then on.
- ``api_token.signature``: the signature (落款) residents read under a token's notices,
  fixed by the admin when the token is made. The server's own admin token signs 镇政府, as
  ``gridcast notice send`` did by default.
- ``notice.issuer_token_id``: the token that issued a notice may confirm or cancel it.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base


revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('revoked_session',
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('revoked_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('session_id')
    )
    with op.batch_alter_table('revoked_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_session_expires_at'), ['expires_at'], unique=False)
    op.add_column('api_token', sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True))
    op.execute("UPDATE api_token SET signature = '镇政府' WHERE name = '本机管理员'")
    op.add_column('notice', sa.Column('issuer_token_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_column('issuer_token_id')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('signature')
    with op.batch_alter_table('revoked_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_session_expires_at'))
    op.drop_table('revoked_session')
