"""The outbox of the incident changes no envelope caused (an operator's through the API, the sweep's resolutions):
`incident_events.announce`, the event type a timeline row's change waits to be announced as, NULL once announced
(aiops_contracts.incidents). The sweep's resolutions waiting under the event id 'sweep:unannounced' move to it. The
partial index holds only the waiting rows, which every sweep reads; built CONCURRENTLY, as 0025's. Every step may
run again, as 0022's: the column and the move are committed before the build, so a failed build leaves the revision
at 0025 with the column in place and, maybe, an INVALID index, and the next upgrade picks up from there.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = 'ix_incident_events_announce'
SWEEP_MARK = 'sweep:unannounced'  # the sweep's mark before this revision


def upgrade() -> None:
    op.execute('ALTER TABLE incident_events ADD COLUMN IF NOT EXISTS announce VARCHAR(32)')
    op.execute(sa.text("UPDATE incident_events SET announce = 'incident.resolved', event_id = NULL "
                       "WHERE event_id = :mark").bindparams(mark=SWEEP_MARK))
    with op.get_context().autocommit_block():
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {INDEX}')
        op.execute(f'CREATE INDEX CONCURRENTLY {INDEX} ON incident_events (id) WHERE announce IS NOT NULL')


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {INDEX}')
    op.execute(sa.text("UPDATE incident_events SET event_id = :mark WHERE announce = 'incident.resolved' "
                       "AND kind = 'resolved'").bindparams(mark=SWEEP_MARK))
    op.execute('ALTER TABLE incident_events DROP COLUMN IF EXISTS announce')
