"""chat_messages: chat conversations kept per user

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'chat_messages',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('conversation_id', sa.Uuid(), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('citations', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_messages')),
    )
    op.create_index('ix_chat_messages_conversation_id_id', 'chat_messages', ['conversation_id', 'id'], unique=False)
    op.create_index(op.f('ix_chat_messages_subject'), 'chat_messages', ['subject'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_chat_messages_subject'), table_name='chat_messages')
    op.drop_index('ix_chat_messages_conversation_id_id', table_name='chat_messages')
    op.drop_table('chat_messages')
