"""Sources created under a name the worker's own alerts carry (aiops_contracts.sources.RESERVED_SOURCE_NAMES,
refused at creation since) are renamed `<name>-renamed-<first 8 hex digits of their id>`: what they push or the
worker polls for them then stops passing for the worker's anomaly, forecast and pipeline alerts, which automations,
the pipelines page and the chat trust by that name. Nothing else changes: token, config, enabled stay, so their
data keeps flowing under the new name. Each rename is logged and audited (`source.renamed`, actor
`migration:0027`, the old and new name). The names are this revision's list, kept here: a name reserved later
needs a revision of its own (the migration test compares the two). It may run again: a renamed source's name is
no longer reserved. The downgrade gives no name back: the old one is in the audit log.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESERVED = ('anomaly-detector', 'capacity-forecast', 'pipelines')  # RESERVED_SOURCE_NAMES at this revision
ACTOR = 'migration:0027'
log = logging.getLogger('alembic.runtime.migration')


def upgrade() -> None:
    connection = op.get_bind()
    held = connection.execute(sa.text('SELECT id, name FROM sources WHERE lower(name) IN :names ORDER BY name')
                              .bindparams(sa.bindparam('names', expanding=True)), {'names': list(RESERVED)}).all()
    for source_id, name in held:
        renamed = f'{name}-renamed-{source_id.hex[:8]}'
        if connection.execute(sa.text('SELECT 1 FROM sources WHERE name = :name'), {'name': renamed}).first():
            renamed = f'{name}-renamed-{source_id.hex}'  # the short one is taken (names are unique)
        connection.execute(sa.text('UPDATE sources SET name = :renamed WHERE id = :id'),
                           {'renamed': renamed, 'id': source_id})
        connection.execute(
            sa.text('INSERT INTO audit_log (actor, action, entity_type, entity_id, before, after) VALUES '
                    "(:actor, 'source.renamed', 'source', :id, :before, :after)")
            .bindparams(sa.bindparam('before', type_=sa.JSON), sa.bindparam('after', type_=sa.JSON)),
            {'actor': ACTOR, 'id': str(source_id), 'before': {'name': name},
             'after': {'name': renamed, 'reason': 'the name is reserved for the worker\'s own alerts'}})
        log.warning('source %r (%s) renamed %r: its name is reserved for the worker\'s own alerts; its data keeps '
                    'flowing under the new name', name, source_id, renamed)


def downgrade() -> None:
    pass  # the reserved names stay free: given back, they would pass for the worker's alerts again
