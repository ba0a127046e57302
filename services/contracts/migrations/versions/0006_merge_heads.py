"""merge the auth, logs and anomalies branches into one line of history

Revision ID: 0006
Revises: 0002_auth, 0004_logs, 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

revision: str = '0006'
down_revision: str | Sequence[str] | None = ('0002_auth', '0004_logs', '0005')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a merge point: no schema change


def downgrade() -> None:
    pass
