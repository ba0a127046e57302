"""incident_resolutions: how each resolved incident was resolved (by whom, which actions, how long), kept
beside its embedding in ChromaDB so that similar later incidents can say what worked last time

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'incident_resolutions',
        sa.Column('incident_id', sa.Uuid(), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_by', sa.String(length=255), nullable=False),
        sa.Column('actions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('minutes_to_resolve', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'],
                                name=op.f('fk_incident_resolutions_incident_id_incidents'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_resolutions')),
    )
    op.create_index(op.f('ix_incident_resolutions_resolved_at'), 'incident_resolutions', ['resolved_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_incident_resolutions_resolved_at'), table_name='incident_resolutions')
    op.drop_table('incident_resolutions')
