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


def kind_of_source(source: str) -> str:
    """The kind of an alert's row, read from the SQL expression `source` (a fixed column expression of this file,
    never data, hence no bound parameter): the SQL twin of aiops_contracts.events.source_signal, which reads the
    alerts of older producers alike (migrations do not import app code: keep the two the same), and a Sentry
    source's rows are errors."""
    return f"""CASE
    WHEN {source} = 'anomaly-detector' THEN 'anomaly'
    WHEN {source} = 'capacity-forecast' THEN 'forecast'
    WHEN (SELECT kind FROM sources WHERE name = {source}) = 'sentry' THEN 'error'
    ELSE 'alert' END"""


def upgrade() -> None:
    op.add_column('incident_signals', sa.Column('source', sa.String(length=255), server_default='', nullable=False))
    # An alert's row held its source as its kind: the source moves to `source`, the kind is read from it.
    op.execute("UPDATE incident_signals SET source = kind WHERE kind <> 'log'")
    op.execute(f"UPDATE incident_signals SET kind = {kind_of_source('source')} WHERE kind <> 'log'")
    # An incident's origin is a (group key, kind) of its evidence: its kind is read alike.
    origin = "details->>'origin_kind'"
    op.execute(f"""
        UPDATE incidents SET details = jsonb_set(details, '{{origin_kind}}', to_jsonb({kind_of_source(origin)}))
        WHERE {origin} <> 'log'""")
    op.drop_constraint(op.f('uq_incident_signals_incident_id_group_key_kind'), 'incident_signals', type_='unique')
    op.create_unique_constraint(op.f('uq_incident_signals_incident_id_group_key_kind_source'), 'incident_signals',
                                ['incident_id', 'group_key', 'kind', 'source'])


def downgrade() -> None:
    # An incident's origin kind is its origin row's source again (its earliest row of that key and kind).
    op.execute("""
        UPDATE incidents AS i SET details = jsonb_set(i.details, '{origin_kind}', to_jsonb(left(s.source, 64)))
        FROM (SELECT DISTINCT ON (incident_id, group_key, kind) incident_id, group_key, kind, source
              FROM incident_signals WHERE source <> '' ORDER BY incident_id, group_key, kind, id) AS s
        WHERE s.incident_id = i.id AND s.group_key = i.details->>'origin' AND s.kind = i.details->>'origin_kind'""")
    # A row's kind is its source again, cut to the kind's 64 characters; the rows of one key whose kinds would
    # then be equal (two kinds of one source, or sources alike in their first 64 characters) fold into the
    # earliest: counts added, span widened, the highest score kept.
    op.execute("""
        WITH folded AS (
            SELECT min(id) AS keep, sum(count) AS count, min(first_seen_at) AS first_seen_at,
                   max(last_seen_at) AS last_seen_at, max(score) AS score
            FROM incident_signals WHERE source <> '' GROUP BY incident_id, group_key, left(source, 64)
            HAVING count(*) > 1)
        UPDATE incident_signals AS s SET count = f.count, first_seen_at = f.first_seen_at,
               last_seen_at = f.last_seen_at, score = f.score
        FROM folded AS f WHERE s.id = f.keep""")
    op.execute("""
        DELETE FROM incident_signals AS s USING incident_signals AS e
        WHERE s.incident_id = e.incident_id AND s.group_key = e.group_key AND left(s.source, 64) = left(e.source, 64)
          AND s.source <> '' AND e.source <> '' AND s.id > e.id""")
    op.execute("UPDATE incident_signals SET kind = left(source, 64) WHERE source <> ''")
    op.drop_constraint(op.f('uq_incident_signals_incident_id_group_key_kind_source'), 'incident_signals',
                       type_='unique')
    op.create_unique_constraint(op.f('uq_incident_signals_incident_id_group_key_kind'), 'incident_signals',
                                ['incident_id', 'group_key', 'kind'])
    op.drop_column('incident_signals', 'source')
