"""notifications: silences, the receivers of notifications.yml, the open notification groups and what was sent

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _common(table: str) -> list[sa.Column | sa.PrimaryKeyConstraint]:
    return [sa.Column('id', sa.Uuid(), nullable=False),
            sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
            sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}'))]


def _jsonb(name: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=False)


def upgrade() -> None:
    op.create_table(
        'silences', _jsonb('matchers'),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('author', sa.String(length=255), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('expired_by', sa.String(length=255), nullable=True),
        *_common('silences'))
    op.create_index(op.f('ix_silences_ends_at'), 'silences', ['ends_at'])
    op.create_table(
        'notification_receivers',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('target', sa.Text(), nullable=False), _jsonb('routes'),
        *_common('notification_receivers'),
        sa.UniqueConstraint('name', name=op.f('uq_notification_receivers_name')))
    op.create_table(
        'notification_groups',
        sa.Column('receiver', sa.String(length=100), nullable=False),
        sa.Column('group_key', sa.String(length=1000), nullable=False),
        _jsonb('incidents'), _jsonb('told'),
        sa.Column('group_interval_s', sa.Float(), nullable=False),
        sa.Column('repeat_interval_s', sa.Float(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
        *_common('notification_groups'),
        sa.UniqueConstraint('receiver', 'group_key', name=op.f('uq_notification_groups_receiver_group_key')))
    op.create_index(op.f('ix_notification_groups_due_at'), 'notification_groups', ['due_at'])
    op.create_table(
        'notifications',
        sa.Column('receiver', sa.String(length=100), nullable=False),
        sa.Column('group_key', sa.String(length=1000), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False), _jsonb('incident_ids'),
        sa.Column('detail', sa.Text(), nullable=False),
        *_common('notifications'))
    op.create_index(op.f('ix_notifications_receiver'), 'notifications', ['receiver'])


def downgrade() -> None:
    op.drop_index(op.f('ix_notifications_receiver'), table_name='notifications')
    op.drop_table('notifications')
    op.drop_index(op.f('ix_notification_groups_due_at'), table_name='notification_groups')
    op.drop_table('notification_groups')
    op.drop_table('notification_receivers')
    op.drop_index(op.f('ix_silences_ends_at'), table_name='silences')
    op.drop_table('silences')
