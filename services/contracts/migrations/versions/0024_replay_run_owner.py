"""Replay runs held by one worker at a time: `owner` (the worker name replaying it) and `heartbeat_at` (set when it
took the run, renewed while it replays). Scaled replicas take a queued run with one conditional UPDATE, and take
over a `running` one only when its owner stopped renewing it (the worker stopped). Runs left `running` by an
earlier release have neither and are taken over as stale.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('replay_runs', sa.Column('owner', sa.String(length=255), nullable=True))
    op.add_column('replay_runs', sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('replay_runs', 'heartbeat_at')
    op.drop_column('replay_runs', 'owner')
