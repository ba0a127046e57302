"""incident_enrichments: the enrichment task's work table (one row per incident, due when it changed materially)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'incident_enrichments',
        sa.Column('incident_id', sa.Uuid(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('enriched_key', sa.String(length=500), nullable=True),
        sa.Column('mode', sa.String(length=16), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_enrichments_incident_id_incidents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_enrichments')),
    )
    op.create_index(op.f('ix_incident_enrichments_due_at'), 'incident_enrichments', ['due_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_incident_enrichments_due_at'), table_name='incident_enrichments')
    op.drop_table('incident_enrichments')
