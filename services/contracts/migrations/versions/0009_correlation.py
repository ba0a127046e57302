"""correlation: the topology graph (topology_edges), an incident's evidence per signal (incident_signals,
backfilled with one row per existing incident: its own group key) and operators' splits (incident_splits)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO incident_signals (incident_id, group_key, kind, title, host, service, count, first_seen_at,
                              last_seen_at, rule, via)
SELECT id, group_key, split_part(group_key, ':', 1), title, hosts->>0, services->>0, event_count, first_seen_at,
       last_seen_at, 'opened', ''
FROM incidents
"""


def _at(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table('topology_edges',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('labels', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topology_edges')),
    sa.UniqueConstraint('kind', 'source', 'target', name=op.f('uq_topology_edges_kind_source_target')))
    op.create_index(op.f('ix_topology_edges_source'), 'topology_edges', ['source'])
    op.create_index(op.f('ix_topology_edges_target'), 'topology_edges', ['target'])
    op.create_table('incident_signals',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('group_key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('service', sa.String(length=255), nullable=True),
    sa.Column('template_id', sa.String(length=64), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    _at('first_seen_at'), _at('last_seen_at'),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('via', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_signals_incident_id_incidents'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_signals')),
    sa.UniqueConstraint('incident_id', 'group_key', name=op.f('uq_incident_signals_incident_id_group_key')))
    op.create_index(op.f('ix_incident_signals_group_key'), 'incident_signals', ['group_key'])
    op.create_table('incident_splits',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('new_incident_id', sa.Uuid(), nullable=False),
    sa.Column('group_key', sa.String(length=255), nullable=False),
    sa.Column('other_keys', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    _at('at'), _at('until'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_splits_incident_id_incidents'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['new_incident_id'], ['incidents.id'],
                            name=op.f('fk_incident_splits_new_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_splits')))
    op.create_index(op.f('ix_incident_splits_group_key'), 'incident_splits', ['group_key'])
    op.create_index(op.f('ix_incident_splits_until'), 'incident_splits', ['until'])
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table('incident_splits')
    op.drop_table('incident_signals')
    op.drop_table('topology_edges')
