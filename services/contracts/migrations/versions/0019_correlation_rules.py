"""Incident evidence: one row per signal kind of a group key (an Alertmanager alert and an anomaly on one host
share the host's key, and are two signals of the incident)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f('uq_incident_signals_incident_id_group_key'), 'incident_signals', type_='unique')
    op.create_unique_constraint(op.f('uq_incident_signals_incident_id_group_key_kind'), 'incident_signals',
                                ['incident_id', 'group_key', 'kind'])


def downgrade() -> None:
    # The kinds of a key fold back into its earliest row: counts added, span widened, the highest score kept.
    op.execute("""
        WITH folded AS (
            SELECT min(id) AS keep, incident_id, group_key, sum(count) AS count, min(first_seen_at) AS first_seen_at,
                   max(last_seen_at) AS last_seen_at, max(score) AS score
            FROM incident_signals GROUP BY incident_id, group_key HAVING count(*) > 1)
        UPDATE incident_signals AS s SET count = f.count, first_seen_at = f.first_seen_at,
               last_seen_at = f.last_seen_at, score = f.score
        FROM folded AS f WHERE s.id = f.keep""")
    op.execute("""
        DELETE FROM incident_signals AS s USING incident_signals AS e
        WHERE s.incident_id = e.incident_id AND s.group_key = e.group_key AND s.id > e.id""")
    op.drop_constraint(op.f('uq_incident_signals_incident_id_group_key_kind'), 'incident_signals', type_='unique')
    op.create_unique_constraint(op.f('uq_incident_signals_incident_id_group_key'), 'incident_signals',
                                ['incident_id', 'group_key'])
