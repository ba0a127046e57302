"""Indexes for reads at a million alerts: each filter of the dashboard's lists (severity, status, source, host,
service, incident) leads an index that goes on with the list's order (last_seen_at, id), so a filtered page is
one range of one index, newest first, instead of a scan of the filter's rows and a sort; incidents by host
(`hosts @> '["h"]'`) through a GIN index. Each replaces the single-column index of the same filter. Built
CONCURRENTLY: a large table keeps taking writes while its indexes are built.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, filter column) -> index on (column, last_seen_at, id) replacing the index on (column)
KEYSET = [('alerts', 'severity'), ('alerts', 'status'), ('alerts', 'source'), ('alerts', 'host'),
          ('alerts', 'service'), ('alerts', 'incident_id'), ('incidents', 'severity'), ('incidents', 'status')]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for table, column in KEYSET:
            op.create_index(f'ix_{table}_{column}_last_seen_at_id', table, [column, 'last_seen_at', 'id'],
                            postgresql_concurrently=True)
            op.drop_index(f'ix_{table}_{column}', table_name=table, postgresql_concurrently=True)
        op.create_index('ix_incidents_hosts', 'incidents', ['hosts'], postgresql_using='gin',
                        postgresql_ops={'hosts': 'jsonb_path_ops'}, postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index('ix_incidents_hosts', table_name='incidents', postgresql_concurrently=True)
        for table, column in KEYSET:
            op.create_index(f'ix_{table}_{column}', table, [column], postgresql_concurrently=True)
            op.drop_index(f'ix_{table}_{column}_last_seen_at_id', table_name=table, postgresql_concurrently=True)
