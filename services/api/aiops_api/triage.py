"""The transitions people make on what the platform raised, alerts and incidents alike: acknowledge
("someone is on it") and resolve, and for incidents reopen. One rule for all, applied in the caller's
transaction, audited:

- resolving is allowed from any state; acknowledging from any state but resolved; reopening (back to
  `open`, incidents only: alerts fire again by themselves) only from resolved;
- asking for the state the row already is in changes nothing and records nothing: a retried or
  double-clicked request is harmless (200 with the row as it is; `resolved_at` keeps the first resolution);
- acknowledging a resolved row is a conflict (409): there is nothing left to acknowledge; so is reopening
  an acknowledged one: it was never closed.
"""

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit import record_change
from aiops_api.errors import Conflict
from aiops_contracts.db import Alert, Incident

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
Target = Literal["open", "acknowledged", "resolved"]
# The audit action of each transition: `<entity_type>.<verb>`.
VERBS = {OPEN: "reopened", ACKNOWLEDGED: "acknowledged", RESOLVED: "resolved"}


async def transition(session: AsyncSession, row: Alert | Incident, *, entity_type: str, target: Target,
                     actor: str) -> bool:
    """Move `row` to `target` and add the audit entry (`<entity_type>.<verb>`, status before/after).
    Returns whether anything changed; the caller commits."""
    if row.status == target:
        return False
    if row.status == RESOLVED and target == ACKNOWLEDGED:
        raise Conflict(f"{entity_type} {row.id} is resolved: nothing to acknowledge")
    if target == OPEN and row.status != RESOLVED:
        raise Conflict(f"{entity_type} {row.id} is {row.status}, not resolved: nothing to reopen")
    before = {"status": row.status}
    row.status = target
    row.resolved_at = datetime.now(UTC) if target == RESOLVED else None
    await record_change(session, actor=actor, action=f"{entity_type}.{VERBS[target]}",
                        entity=(entity_type, str(row.id)), before=before, after={"status": row.status})
    return True
