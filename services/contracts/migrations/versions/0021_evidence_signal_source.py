"""Incident evidence by signal kind: `kind` says what a signal is (error, alert, log, anomaly, forecast) and the
new `source` which source sent it; one row per group key, kind and source (one source may send two kinds: the
pipelines send failed-build alerts and build anomalies)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('incident_signals', sa.Column('source', sa.String(length=255), server_default='', nullable=False))
    # An alert's row held its source as its kind: the source moves to `source`, the kind is read from it.
    op.execute("UPDATE incident_signals SET source = kind WHERE kind <> 'log'")
    op.execute("""
        UPDATE incident_signals AS s SET kind = CASE
            WHEN s.source = 'anomaly-detector' THEN 'anomaly'
            WHEN s.source = 'capacity-forecast' THEN 'forecast'
            WHEN (SELECT kind FROM sources WHERE name = s.source) = 'sentry' THEN 'error'
            ELSE 'alert' END
        WHERE s.kind <> 'log'""")
    op.drop_constraint(op.f('uq_incident_signals_incident_id_group_key_kind'), 'incident_signals', type_='unique')
    op.create_unique_constraint(op.f('uq_incident_signals_incident_id_group_key_kind_source'), 'incident_signals',
                                ['incident_id', 'group_key', 'kind', 'source'])


def downgrade() -> None:
    # A row's kind is its source again; two kinds of one source fold into the source's earliest row: counts
    # added, span widened, the highest score kept.
    op.execute("""
        WITH folded AS (
            SELECT min(id) AS keep, incident_id, group_key, source, sum(count) AS count,
                   min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at, max(score) AS score
            FROM incident_signals WHERE source <> '' GROUP BY incident_id, group_key, source HAVING count(*) > 1)
        UPDATE incident_signals AS s SET count = f.count, first_seen_at = f.first_seen_at,
               last_seen_at = f.last_seen_at, score = f.score
        FROM folded AS f WHERE s.id = f.keep""")
    op.execute("""
        DELETE FROM incident_signals AS s USING incident_signals AS e
        WHERE s.incident_id = e.incident_id AND s.group_key = e.group_key AND s.source = e.source
          AND s.source <> '' AND s.id > e.id""")
    op.execute("UPDATE incident_signals SET kind = left(source, 64) WHERE source <> ''")
    op.drop_constraint(op.f('uq_incident_signals_incident_id_group_key_kind_source'), 'incident_signals',
                       type_='unique')
    op.create_unique_constraint(op.f('uq_incident_signals_incident_id_group_key_kind'), 'incident_signals',
                                ['incident_id', 'group_key', 'kind'])
    op.drop_column('incident_signals', 'source')
