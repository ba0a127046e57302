"""Alerts by host name: `host_name` holds the host as correlation names it (`DB-1`, `db-1:9187` and
`db-1.prod.example.com` are `db-1`), beside `host` as the alert gave it; the list's host filter compares it,
through an index on (host_name, last_seen_at, id) that replaces the one on (host, last_seen_at, id). Stored
alerts get theirs here; writers set it from now on. Every step may run again: the column and the backfill are
committed before the indexes are built CONCURRENTLY (outside a transaction), so a failed build leaves the
revision at 0021 with the column in place and, maybe, an INVALID index, and the next upgrade picks up from there.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The SQL twin of aiops_contracts.topology.host_name (migrations do not import app code: keep the two the same;
# tests/test_forecasts_migration.py compares them), worked out once per distinct host: the label trimmed and
# lower-cased; a bracketed IPv6 address taken out of its brackets, else a single `:port` dropped; an IP address
# kept whole (IPv4 as Python's ipaddress reads it; anything with a colon is IPv6, as a host name has none), else
# the name before the first dot; nothing left: NULL.
BACKFILL = r"""
WITH labels AS (
    SELECT DISTINCT host, lower(btrim(host, E' \t\n\r\f\x0b')) AS label FROM alerts WHERE host <> ''
), names AS (
    SELECT host, CASE WHEN left(label, 1) = '[' THEN split_part(substr(label, 2), ']', 1)
                      WHEN label ~ '^[^:]*:[^:]*$' THEN split_part(label, ':', 1)
                      ELSE label END AS name
    FROM labels
)
UPDATE alerts SET host_name = NULLIF(CASE
    WHEN strpos(name, ':') > 0
      OR name ~ '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$'
    THEN name
    ELSE split_part(name, '.', 1) END, '')
FROM names WHERE alerts.host = names.host AND alerts.host_name IS NULL
"""


def upgrade() -> None:
    op.execute('ALTER TABLE alerts ADD COLUMN IF NOT EXISTS host_name VARCHAR(255)')
    op.execute(BACKFILL)
    with op.get_context().autocommit_block():
        op.execute('DROP INDEX CONCURRENTLY IF EXISTS ix_alerts_host_name_last_seen_at_id')
        op.execute('CREATE INDEX CONCURRENTLY ix_alerts_host_name_last_seen_at_id '
                   'ON alerts (host_name, last_seen_at, id)')
        op.execute('DROP INDEX CONCURRENTLY IF EXISTS ix_alerts_host_last_seen_at_id')


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute('DROP INDEX CONCURRENTLY IF EXISTS ix_alerts_host_last_seen_at_id')
        op.execute('CREATE INDEX CONCURRENTLY ix_alerts_host_last_seen_at_id ON alerts (host, last_seen_at, id)')
        op.execute('DROP INDEX CONCURRENTLY IF EXISTS ix_alerts_host_name_last_seen_at_id')
    op.execute('ALTER TABLE alerts DROP COLUMN IF EXISTS host_name')
