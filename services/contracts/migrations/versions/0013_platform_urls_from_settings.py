"""automation rules and runs: awx, terraform and servicenow actions lose their url (the platform's address is
now the worker's AWX_URL / TFC_URL / SERVICENOW_URL setting, and the contract refuses a rule naming one)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The same statement for each table that keeps rule specs; the table names are spelled out, nothing is formatted in.
_DROP_URL = ("SET spec = spec #- '{action,url}' "
             "WHERE spec->'action'->>'kind' IN ('awx', 'terraform', 'servicenow') AND spec->'action' ? 'url'")


def upgrade() -> None:
    op.execute("UPDATE automation_rules " + _DROP_URL)
    op.execute("UPDATE automation_runs " + _DROP_URL)


def downgrade() -> None:
    """Nothing to restore: the removed URLs were never used again."""
