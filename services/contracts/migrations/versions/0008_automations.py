"""automations: rules (automations.yml or the API) and the run ledger, unique per rule and trigger

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False)]


def upgrade() -> None:
    op.create_table(
        'automation_rules',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_rules')),
        sa.UniqueConstraint('name', name=op.f('uq_automation_rules_name')),
    )
    op.create_table(
        'automation_runs',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('rule_name', sa.String(length=100), nullable=False),
        sa.Column('trigger_key', sa.String(length=255), nullable=False),
        sa.Column('target', sa.String(length=255), nullable=False),
        sa.Column('incident_id', sa.Uuid(), nullable=True),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('event', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('approval_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.String(length=255), nullable=True),
        sa.Column('worker', sa.String(length=255), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rc', sa.Integer(), nullable=True),
        sa.Column('changed', sa.Integer(), nullable=True),
        sa.Column('failed', sa.Integer(), nullable=True),
        sa.Column('output', sa.Text(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_automation_runs_incident_id_incidents'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs')),
        sa.UniqueConstraint('rule_name', 'trigger_key', name=op.f('uq_automation_runs_rule_name_trigger_key')),
    )
    for column in ('rule_name', 'target', 'incident_id', 'status'):
        op.create_index(op.f(f'ix_automation_runs_{column}'), 'automation_runs', [column])


def downgrade() -> None:
    op.drop_table('automation_runs')
    op.drop_table('automation_rules')
