"""anomalies: metric forecasts and exhaustion predictions

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('metric_forecasts',
    sa.Column('series_key', sa.String(length=1000), nullable=False),
    sa.Column('measurement', sa.String(length=200), nullable=False),
    sa.Column('field', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('tags', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=False),
    sa.Column('last_point_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('forecast', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('exhausts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exhausts_earliest', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exhausts_latest', sa.DateTime(timezone=True), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('series_key', name=op.f('pk_metric_forecasts'))
    )
    op.create_index(op.f('ix_metric_forecasts_exhausts_at'), 'metric_forecasts', ['exhausts_at'], unique=False)
    op.create_index(op.f('ix_metric_forecasts_host'), 'metric_forecasts', ['host'], unique=False)
    op.create_index(op.f('ix_metric_forecasts_measurement'), 'metric_forecasts', ['measurement'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_metric_forecasts_measurement'), table_name='metric_forecasts')
    op.drop_index(op.f('ix_metric_forecasts_host'), table_name='metric_forecasts')
    op.drop_index(op.f('ix_metric_forecasts_exhausts_at'), table_name='metric_forecasts')
    op.drop_table('metric_forecasts')
