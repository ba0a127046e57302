"""Incidents by host: the planner's statistics on `hosts` sampled finely enough to estimate `hosts @> '["h"]'`
(the list's host filter). The default target (100) keeps ~100 histogram values: a host among them is estimated at
about 1 % of the table, and the list then walks ix_incidents_last_seen_at_id filtering each row instead of reading
that host's incidents from the GIN index (ix_incidents_hosts). At 100,000 incidents over 500 hosts and a million
alerts (the read benches' seed), 99 hosts of 500 took that plan after each of 15 ANALYZEs (estimated 994-1000 rows
for 200; host-6: 24,956 rows filtered, 1,060 buffers, 4.3-7.1 ms at load 12-19); at 1000, none of 500 after each
of 15 (~203 buffers, 0.5 ms a host). The column is analyzed here (0.8 s with the upgrade at that size), so the
plans change now, not at the next autovacuum. Runs again as it is.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute('ALTER TABLE incidents ALTER COLUMN hosts SET STATISTICS 1000')
    op.execute('ANALYZE incidents (hosts)')


def downgrade() -> None:
    op.execute('ALTER TABLE incidents ALTER COLUMN hosts SET STATISTICS -1')
    op.execute('ANALYZE incidents (hosts)')
