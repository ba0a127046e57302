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

from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit import record_change
from aiops_api.errors import Conflict
from aiops_contracts.db import Alert, Incident
from aiops_contracts.events import AlertStatus, IncidentStatus, TimelineKind

# The audit action of each transition, `<entity_type>.<verb>`, and the incident timeline's kind for it.
VERBS = {IncidentStatus.open: TimelineKind.reopened, IncidentStatus.acknowledged: TimelineKind.acknowledged,
         IncidentStatus.resolved: TimelineKind.resolved}


async def transition(session: AsyncSession, row: Alert | Incident, *, entity_type: str, target: IncidentStatus | AlertStatus,
                     actor: str) -> bool:
    """Move `row` to `target` and add the audit entry (`<entity_type>.<verb>`, status before/after).
    Returns whether anything changed; the caller commits."""
    if row.status == target:
        return False
    if row.status == IncidentStatus.resolved and target == IncidentStatus.acknowledged:
        raise Conflict(f"{entity_type} {row.id} is resolved: nothing to acknowledge")
    if target == IncidentStatus.open and row.status != IncidentStatus.resolved:
        raise Conflict(f"{entity_type} {row.id} is {row.status}, not resolved: nothing to reopen")
    before = {"status": row.status}
    row.status = target
    row.resolved_at = datetime.now(UTC) if target == IncidentStatus.resolved else None
    await record_change(session, actor=actor, action=f"{entity_type}.{VERBS[IncidentStatus(target)]}",
                        entity=(entity_type, str(row.id)), before=before, after={"status": row.status})
    return True
