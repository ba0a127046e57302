"""Announcing incident changes, the same way whoever made them (the worker's aggregator, an operator through
the API): an `incident.*` envelope carrying the incident's state after the change, appended to
`aiops:incidents:changed` and published on the live channel, under a change id derived from what changed, so
announcing a change again gives it the same id.

The changes no envelope caused (an operator's through the API, the sweep's resolutions) have an outbox: their
timeline row is written, in the transaction that makes the change, with the event type to announce it as
(`incident_events.announce`), and `announce_pending` announces the waiting rows and clears that. Whoever made the
change calls it right after the commit, for its incidents; the worker's sweep calls it for all of them, so a
change whose announcement failed (Redis down, the stream full, a crash after the commit) is announced by the next
sweep, once, under the same id. (A change an envelope caused is announced again by its redelivery.)"""

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from aiops_contracts.bus import Bus
from aiops_contracts.db import Incident, IncidentEvent
from aiops_contracts.envelope import Envelope, new_event_id
from aiops_contracts.events import (
    INCIDENT_UPDATED,
    IncidentChangedPayload,
    Severity,
    TimelineKind,
)
from aiops_contracts.streams import INCIDENTS_CHANGED

# The rows that set an incident's status: a later one supersedes an earlier change still to announce.
STATUS_KINDS = (TimelineKind.reopened, TimelineKind.resolved, TimelineKind.acknowledged)


def incident_changed(incident: Incident, event_type: str, *, source: str, envelope_id: str | None = None,
                     reopened: bool = False) -> Envelope:
    payload = IncidentChangedPayload(
        incident_id=str(incident.id), group_key=incident.group_key, title=incident.title,
        severity=Severity(incident.severity), status=incident.status, event_count=incident.event_count,
        hosts=incident.hosts, services=incident.services, first_seen_at=incident.first_seen_at,
        last_seen_at=incident.last_seen_at, reopened=reopened)
    return Envelope(id=envelope_id or new_event_id(), type=event_type, source=source,
                    payload=payload.model_dump(mode="json"))


async def announce_incident_changes(bus: Bus, envelopes: Sequence[Envelope]) -> None:
    await bus.publish_and_broadcast(INCIDENTS_CHANGED, envelopes)


def change_id(*parts: str) -> str:
    """Deterministic envelope id of an incident change, so announcing it again gives the same id."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def row_change(incident: Incident, row: IncidentEvent, *, source: str) -> Envelope:
    """The announcement of the change a timeline row waiting in the outbox records, as `row.announce`, under an id
    derived from the row's kind and time."""
    event_type = row.announce or INCIDENT_UPDATED
    cause = f"{row.kind}:{row.at.astimezone(UTC).isoformat()}"
    return incident_changed(incident, event_type, source=source, reopened=row.kind == TimelineKind.reopened,
                            envelope_id=change_id(cause, str(incident.id), event_type))


async def announce_pending(session: AsyncSession, bus: Bus, *, source: str,
                           incidents: Sequence[uuid.UUID] | None = None) -> None:
    """Announce the changes waiting in the outbox (only those of `incidents`, when given), then clear their rows'
    `announce`; the caller commits. The rows are locked: another caller meanwhile passes them by (SKIP LOCKED), so a
    change is announced once. A row a later status row of its incident supersedes (announced by whoever wrote that
    one) is cleared unannounced. A failed publish raises, before anything is cleared."""
    later = aliased(IncidentEvent)
    superseded = (select(later.id).where(later.incident_id == IncidentEvent.incident_id, later.id > IncidentEvent.id,
                                         later.kind.in_(STATUS_KINDS)).exists())
    stmt = (select(IncidentEvent, superseded, Incident).join(Incident, Incident.id == IncidentEvent.incident_id)
            .where(IncidentEvent.announce.is_not(None)).order_by(IncidentEvent.id)
            .with_for_update(of=IncidentEvent, skip_locked=True))
    if incidents is not None:
        stmt = stmt.where(IncidentEvent.incident_id.in_(incidents))
    pending = (await session.execute(stmt)).all()
    await announce_incident_changes(bus, [row_change(incident, row, source=source)
                                          for row, stale, incident in pending if not stale])
    if pending:
        await session.execute(update(IncidentEvent).where(IncidentEvent.id.in_([row.id for row, *_ in pending]))
                              .values(announce=None))
