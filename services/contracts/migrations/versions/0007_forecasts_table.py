"""forecasts: metric_forecasts renamed to forecasts (one word per domain: URL, folders and table)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED = ('exhausts_at', 'host', 'measurement')


def _rename(old: str, new: str) -> None:
    op.rename_table(old, new)
    op.execute(f'ALTER TABLE {new} RENAME CONSTRAINT pk_{old} TO pk_{new}')
    for column in INDEXED:
        op.execute(f'ALTER INDEX ix_{old}_{column} RENAME TO ix_{new}_{column}')


def upgrade() -> None:
    _rename('metric_forecasts', 'forecasts')


def downgrade() -> None:
    _rename('forecasts', 'metric_forecasts')
