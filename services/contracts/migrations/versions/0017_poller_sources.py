"""Polled sources (issue 19): sources get a target, an interval, sealed credentials and labels; the token
columns become optional (a polled source has no token)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("sources", "token_hash", existing_type=sa.String(64), nullable=True)
    op.alter_column("sources", "token_prefix", existing_type=sa.String(12), nullable=True)
    op.add_column("sources", sa.Column("target", sa.String(500), nullable=True))
    op.add_column("sources", sa.Column("interval_s", sa.Float(), nullable=True))
    op.add_column("sources", sa.Column("credentials", postgresql.JSONB(), server_default="{}", nullable=False))
    op.add_column("sources", sa.Column("labels", postgresql.JSONB(), server_default="{}", nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM sources WHERE token_hash IS NULL")
    op.drop_column("sources", "labels")
    op.drop_column("sources", "credentials")
    op.drop_column("sources", "interval_s")
    op.drop_column("sources", "target")
    op.alter_column("sources", "token_prefix", existing_type=sa.String(12), nullable=False)
    op.alter_column("sources", "token_hash", existing_type=sa.String(64), nullable=False)
