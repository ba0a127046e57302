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

import ipaddress
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_HOST_NAME = 255  # characters of host_name


def host_name(label: str) -> str | None:
    """A copy of aiops_contracts.topology.host_name (migrations do not import app code: keep the two the same;
    tests/test_forecasts_migration.py compares them on tricky labels). In Python, not SQL: its str.strip() and
    str.lower() are Unicode's (no-break and ideographic spaces, `İ`), PostgreSQL's btrim() and lower() are not, and
    which labels are IP addresses is ipaddress's call (`a.b:1:2` is not one)."""
    name = label.strip().lower()
    if name.startswith("["):  # [v6]:port
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    try:
        ipaddress.ip_address(name)
    except ValueError:
        name = name.split(".", 1)[0]
    return name[:MAX_HOST_NAME] or None


# Each distinct label is named once; a label that names no host leaves host_name NULL.
UNNAMED_HOSTS = sa.text("SELECT DISTINCT host FROM alerts WHERE host_name IS NULL AND host <> ''")
BACKFILL = sa.text(
    "UPDATE alerts SET host_name = named.name "
    "FROM unnest(CAST(:hosts AS text[]), CAST(:names AS text[])) AS named(host, name) "
    "WHERE alerts.host = named.host AND alerts.host_name IS NULL")


def upgrade() -> None:
    op.execute('ALTER TABLE alerts ADD COLUMN IF NOT EXISTS host_name VARCHAR(255)')
    connection = op.get_bind()
    named = {host: name for host in connection.scalars(UNNAMED_HOSTS) if (name := host_name(host))}
    if named:
        connection.execute(BACKFILL, {"hosts": list(named), "names": list(named.values())})
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
