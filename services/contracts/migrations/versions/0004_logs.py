"""logs: templates, prototypes, miner state, incident timeline

Revision ID: 0004_logs
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004_logs'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('log_miner_state',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('state', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_log_miner_state'))
    )
    op.create_table('log_prototypes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_prototypes'))
    )
    op.create_table('incident_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('template_id', sa.String(length=64), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_events_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_events'))
    )
    op.create_index(op.f('ix_incident_events_event_id'), 'incident_events', ['event_id'], unique=False)
    op.create_index('ix_incident_events_incident_id_at', 'incident_events', ['incident_id', 'at'], unique=False)
    op.create_table('log_templates',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('template', sa.Text(), nullable=False),
    sa.Column('prototype_id', sa.String(length=64), nullable=True),
    sa.Column('merged_into', sa.String(length=64), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('sample', sa.Text(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prototype_id'], ['log_prototypes.id'], name=op.f('fk_log_templates_prototype_id_log_prototypes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_templates'))
    )
    op.create_index(op.f('ix_log_templates_last_seen_at'), 'log_templates', ['last_seen_at'], unique=False)
    op.create_index(op.f('ix_log_templates_prototype_id'), 'log_templates', ['prototype_id'], unique=False)
    op.create_table('log_template_counts',
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('bucket_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['log_templates.id'], name=op.f('fk_log_template_counts_template_id_log_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('template_id', 'bucket_start', name=op.f('pk_log_template_counts'))
    )


def downgrade() -> None:
    op.drop_table('log_template_counts')
    op.drop_index(op.f('ix_log_templates_prototype_id'), table_name='log_templates')
    op.drop_index(op.f('ix_log_templates_last_seen_at'), table_name='log_templates')
    op.drop_table('log_templates')
    op.drop_index('ix_incident_events_incident_id_at', table_name='incident_events')
    op.drop_index(op.f('ix_incident_events_event_id'), table_name='incident_events')
    op.drop_table('incident_events')
    op.drop_table('log_prototypes')
    op.drop_table('log_miner_state')
