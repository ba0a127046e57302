"""A pipeline's runs page from one index: (pipeline_id, coalesce(started_at, queued_at, created_at), id), the list's
filter then its order (RUN_AT in aiops_contracts/db/pipelines.py), so a page of GET /api/v1/pipelines/{id}/runs
is one range of the index read backwards instead of a sort of all of the pipeline's runs. Built CONCURRENTLY: the
table keeps taking the worker's writes while it is built. The index on pipeline_id alone goes: the new one starts
with it (as 0020 did for the alerts' indexes).

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = 'ix_pipeline_runs_pipeline_id_run_at_id'
PREFIX_INDEX = 'ix_pipeline_runs_pipeline_id'


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(INDEX, 'pipeline_runs',
                        ['pipeline_id', sa.text('coalesce(started_at, queued_at, created_at)'), 'id'],
                        postgresql_concurrently=True)
        op.drop_index(PREFIX_INDEX, table_name='pipeline_runs', postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(PREFIX_INDEX, 'pipeline_runs', ['pipeline_id'], postgresql_concurrently=True)
        op.drop_index(INDEX, table_name='pipeline_runs', postgresql_concurrently=True)
