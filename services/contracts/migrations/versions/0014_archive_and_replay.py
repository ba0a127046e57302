"""archive_batches (compressed accepted alerts, logs and errors, for replays) and replay_runs (dry-run replays)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'archive_batches',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('stream', sa.String(length=100), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_batches')),
        sa.UniqueConstraint('stream', 'digest', name=op.f('uq_archive_batches_stream_digest')),
    )
    op.create_index(op.f('ix_archive_batches_first_at'), 'archive_batches', ['first_at'], unique=False)
    op.create_index(op.f('ix_archive_batches_last_at'), 'archive_batches', ['last_at'], unique=False)
    op.create_table(
        'replay_runs',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('requested_by', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_replay_runs')),
    )
    op.create_index(op.f('ix_replay_runs_status'), 'replay_runs', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_replay_runs_status'), table_name='replay_runs')
    op.drop_table('replay_runs')
    op.drop_index(op.f('ix_archive_batches_last_at'), table_name='archive_batches')
    op.drop_index(op.f('ix_archive_batches_first_at'), table_name='archive_batches')
    op.drop_table('archive_batches')
