"""The transitions people make on what the platform raised, alerts and incidents alike: acknowledge
("someone is on it") and resolve. One rule for both, applied in the caller's transaction, audited:

- resolving is allowed from any state; acknowledging from any state but resolved;
- asking for the state the row already is in changes nothing and records nothing: a retried or
  double-clicked request is harmless (200 with the row as it is; `resolved_at` keeps the first resolution);
- acknowledging a resolved row is a conflict (409): there is nothing left to acknowledge.
"""

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit import record_change
from aiops_api.errors import Conflict
from aiops_contracts.db import Alert, Incident

ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
Target = Literal["acknowledged", "resolved"]


async def transition(session: AsyncSession, row: Alert | Incident, *, entity_type: str, target: Target,
                     actor: str) -> bool:
    """Move `row` to `target` and add the audit entry (`<entity_type>.<target>`, status before/after).
    Returns whether anything changed; the caller commits."""
    if row.status == target:
        return False
    if row.status == RESOLVED and target == ACKNOWLEDGED:
        raise Conflict(f"{entity_type} {row.id} is resolved: nothing to acknowledge")
    before = {"status": row.status}
    row.status = target
    if target == RESOLVED:
        row.resolved_at = datetime.now(UTC)
    await record_change(session, actor=actor, action=f"{entity_type}.{target}", entity=(entity_type, str(row.id)),
                        before=before, after={"status": row.status})
    return True
