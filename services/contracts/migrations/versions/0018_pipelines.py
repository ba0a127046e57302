"""CI/CD pipelines (issue 20): pipelines, their runs with jobs, steps and tests, commits, and daily scores

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text('now()')
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column('id', sa.Uuid(), nullable=False)


def _parent(column: str, table: str, child: str) -> list:
    return [sa.Column(column, sa.Uuid(), nullable=False),
            sa.ForeignKeyConstraint([column], [f'{table}.id'], name=f'fk_{child}_{column}_{table}', ondelete='CASCADE')]


def upgrade() -> None:
    op.create_table(
        'pipelines', _id(),
        sa.Column('provider', sa.String(20), nullable=False), sa.Column('key', sa.String(500), nullable=False),
        sa.Column('name', sa.String(300), nullable=False), sa.Column('source', sa.String(100), nullable=False),
        sa.Column('url', sa.String(2000), nullable=True),
        sa.Column('created_at', TS, server_default=NOW, nullable=False),
        sa.Column('updated_at', TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_pipelines'),
        sa.UniqueConstraint('provider', 'key', name='uq_pipelines_provider_key'),
    )
    op.create_table(
        'pipeline_runs', _id(), *_parent('pipeline_id', 'pipelines', 'pipeline_runs'),
        sa.Column('external_id', sa.String(100), nullable=False), sa.Column('number', sa.Integer(), nullable=True),
        sa.Column('attempt', sa.Integer(), nullable=False), sa.Column('status', sa.String(20), nullable=False),
        sa.Column('conclusion', sa.String(20), nullable=True), sa.Column('branch', sa.String(255), nullable=True),
        sa.Column('event', sa.String(50), nullable=True), sa.Column('commit_sha', sa.String(64), nullable=True),
        sa.Column('runner', sa.String(200), nullable=True), sa.Column('queued_at', TS, nullable=True),
        sa.Column('started_at', TS, nullable=True), sa.Column('finished_at', TS, nullable=True),
        sa.Column('url', sa.String(2000), nullable=True),
        sa.Column('features', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_pipeline_runs'),
        sa.UniqueConstraint('pipeline_id', 'external_id', name='uq_pipeline_runs_pipeline_id_external_id'),
    )
    for column in ('pipeline_id', 'commit_sha', 'started_at'):
        op.create_index(f'ix_pipeline_runs_{column}', 'pipeline_runs', [column])
    op.create_table(
        'pipeline_jobs', _id(), *_parent('run_id', 'pipeline_runs', 'pipeline_jobs'),
        sa.Column('external_id', sa.String(100), nullable=False), sa.Column('name', sa.String(300), nullable=False),
        sa.Column('runner', sa.String(200), nullable=True), sa.Column('conclusion', sa.String(20), nullable=True),
        sa.Column('started_at', TS, nullable=True), sa.Column('finished_at', TS, nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_pipeline_jobs'),
        sa.UniqueConstraint('run_id', 'external_id', name='uq_pipeline_jobs_run_id_external_id'),
    )
    op.create_index('ix_pipeline_jobs_run_id', 'pipeline_jobs', ['run_id'])
    op.create_table(
        'pipeline_steps', _id(), *_parent('job_id', 'pipeline_jobs', 'pipeline_steps'),
        sa.Column('number', sa.Integer(), nullable=False), sa.Column('name', sa.String(300), nullable=False),
        sa.Column('conclusion', sa.String(20), nullable=True),
        sa.Column('started_at', TS, nullable=True), sa.Column('finished_at', TS, nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_pipeline_steps'),
        sa.UniqueConstraint('job_id', 'number', name='uq_pipeline_steps_job_id_number'),
    )
    op.create_index('ix_pipeline_steps_job_id', 'pipeline_steps', ['job_id'])
    op.create_table(
        'pipeline_tests', _id(), *_parent('run_id', 'pipeline_runs', 'pipeline_tests'),
        sa.Column('name', sa.String(500), nullable=False), sa.Column('file', sa.String(500), nullable=True),
        sa.Column('outcome', sa.String(20), nullable=False), sa.Column('duration_s', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_pipeline_tests'),
        sa.UniqueConstraint('run_id', 'name', name='uq_pipeline_tests_run_id_name'),
    )
    op.create_index('ix_pipeline_tests_run_id', 'pipeline_tests', ['run_id'])
    op.create_table(
        'pipeline_commits', _id(), *_parent('pipeline_id', 'pipelines', 'pipeline_commits'),
        sa.Column('sha', sa.String(64), nullable=False), sa.Column('message', sa.Text(), nullable=False),
        sa.Column('author', sa.String(255), nullable=True), sa.Column('committed_at', TS, nullable=True),
        sa.Column('files', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_pipeline_commits'),
        sa.UniqueConstraint('pipeline_id', 'sha', name='uq_pipeline_commits_pipeline_id_sha'),
    )
    op.create_index('ix_pipeline_commits_pipeline_id', 'pipeline_commits', ['pipeline_id'])
    op.create_table(
        'pipeline_scores', _id(), *_parent('pipeline_id', 'pipelines', 'pipeline_scores'),
        sa.Column('day', sa.Date(), nullable=False), sa.Column('computed_at', TS, nullable=False),
        sa.Column('score', sa.Float(), nullable=False), sa.Column('grade', sa.String(1), nullable=False),
        sa.Column('dimensions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('forecasts', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('rca', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_pipeline_scores'),
        sa.UniqueConstraint('pipeline_id', 'day', name='uq_pipeline_scores_pipeline_id_day'),
    )
    op.create_index('ix_pipeline_scores_pipeline_id', 'pipeline_scores', ['pipeline_id'])


def downgrade() -> None:
    for table in ('pipeline_scores', 'pipeline_commits', 'pipeline_tests', 'pipeline_steps', 'pipeline_jobs',
                  'pipeline_runs', 'pipelines'):
        op.drop_table(table)
