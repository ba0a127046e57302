"""automation_runs: the outcome of a successful run (watching, fixed, not_fixed, worse), when it was known,
until when the symptom is watched, and the time to repair

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('automation_runs', sa.Column('outcome', sa.String(length=16), nullable=True))
    op.add_column('automation_runs', sa.Column('verify_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('automation_runs', sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('automation_runs', sa.Column('mttr_s', sa.Float(), nullable=True))
    op.create_index(op.f('ix_automation_runs_outcome'), 'automation_runs', ['outcome'])


def downgrade() -> None:
    op.drop_index(op.f('ix_automation_runs_outcome'), table_name='automation_runs')
    for column in ('mttr_s', 'outcome_at', 'verify_until', 'outcome'):
        op.drop_column('automation_runs', column)
