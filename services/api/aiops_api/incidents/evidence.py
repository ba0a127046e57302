"""An incident's evidence (one row per signal, by onset, with the probable origin marked) and the operator's
split: a wrongly merged signal moves out into an incident of its own, audited, and remembered
(IncidentSplit) so the aggregator does not merge it back with the keys it left for SPLIT_MEMORY. The alerts linked
to the incident (alerts.incident_id) whose group key is the one split out move with it."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Uuid, any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aiops_api.audit.service import record_change
from aiops_api.errors import Conflict, NotFound
from aiops_api.incidents.schemas import EvidenceRead
from aiops_api.incidents.service import get_incident
from aiops_contracts.db import Alert, Incident, IncidentEvent, IncidentSignal, IncidentSplit
from aiops_contracts.events import INCIDENT_OPENED, INCIDENT_UPDATED, IncidentStatus, TimelineKind
from aiops_contracts.topology import CORRELATION_LOCK, SPLIT_MEMORY, alert_key


async def list_evidence(connection: AsyncConnection, *, incident_id: uuid.UUID) -> list[EvidenceRead]:
    incident = await get_incident(connection, incident_id=incident_id)
    signals = IncidentSignal.__table__
    rows = await connection.execute(select(signals).where(signals.c.incident_id == incident_id)
                                    .order_by(signals.c.first_seen_at, signals.c.id))
    return [EvidenceRead.model_validate(row).model_copy(update={"origin": _is_origin(incident, row)}) for row in rows]


def _is_origin(incident: Row[Any], row: Row[Any]) -> bool:
    return row.group_key == incident.details.get("origin") and row.kind == incident.details.get("origin_kind", row.kind)


async def split_signal(session: AsyncSession, *, incident_id: uuid.UUID, group_key: str,
                       actor: str) -> tuple[Incident, Incident]:
    """Move `group_key`'s evidence (each of its signal kinds) out of the incident into a new one; returns
    (incident, new incident)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": CORRELATION_LOCK})
    incident = await session.get(Incident, incident_id, with_for_update=True, populate_existing=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    rows = list(await session.scalars(select(IncidentSignal).where(IncidentSignal.incident_id == incident_id)
                                      .order_by(IncidentSignal.first_seen_at, IncidentSignal.id).with_for_update()))
    moved = [s for s in rows if s.group_key == group_key]
    remaining = [s for s in rows if s.group_key != group_key]
    if not moved:
        raise NotFound(f"group_key: {group_key!r} is not a signal of incident {incident_id}")
    if not remaining:
        raise Conflict(f"group_key: {group_key!r} is the incident's only signal; nothing to split")
    now = datetime.now(UTC)
    first = moved[0]
    new = Incident(id=uuid.uuid4(), group_key=group_key, title=first.title, summary="", severity=incident.severity,
                   status=IncidentStatus.open, event_count=sum(s.count for s in moved),
                   hosts=sorted({s.host for s in moved if s.host}), services=sorted({s.service for s in moved if s.service}),
                   first_seen_at=first.first_seen_at, last_seen_at=max(s.last_seen_at for s in moved),
                   details={"samples": [], "template_ids": [], "reopen_count": 0, "origin": group_key,
                            "origin_kind": first.kind, "split_from": str(incident_id)})
    session.add(new)
    await session.flush()
    for row in moved:
        row.incident_id, row.rule, row.via = new.id, "split", f"split out of {incident_id} by {actor}"
    await _move_alerts(session, incident_id, new.id, group_key)
    _shrink(incident, remaining, moved)
    others = sorted({s.group_key for s in remaining})
    session.add(IncidentSplit(incident_id=incident_id, new_incident_id=new.id, group_key=group_key,
                              other_keys=others, actor=actor, at=now,
                              until=max(now, incident.last_seen_at) + SPLIT_MEMORY))
    # Announced after the commit (service.announce_changes): the incident updated, the new one opened.
    for row, event_type, message in ((incident, INCIDENT_UPDATED, f"{group_key} split out by {actor}"),
                                     (new, INCIDENT_OPENED, f"split out of {incident_id} by {actor}")):
        session.add(IncidentEvent(incident_id=row.id, event_id=None, at=now, kind=TimelineKind.events, count=0,
                                  host=None, template_id=None, message=message, announce=event_type))
    await record_change(session, actor=actor, action="incident.split", entity=("incident", str(incident_id)),
                        before={"group_keys": sorted([*others, group_key])},
                        after={"group_key": group_key, "new_incident_id": str(new.id)})
    await session.commit()
    return incident, new


async def _move_alerts(session: AsyncSession, incident_id: uuid.UUID, new_id: uuid.UUID, group_key: str) -> None:
    """Link the incident's alerts of `group_key` (keyed as the aggregator keys them) to the new incident. The
    worker links alerts under the correlation lock, which the split holds: none is linked meanwhile."""
    alerts = Alert.__table__
    linked = await session.execute(select(alerts.c.id, alerts.c.source, alerts.c.fingerprint, alerts.c.host,
                                          alerts.c.service).where(alerts.c.incident_id == incident_id))
    if ids := [row.id for row in linked if alert_key(row.source, row.fingerprint, row.host, row.service) == group_key]:
        await session.execute(update(alerts).where(alerts.c.id == any_(bindparam("ids", ids, type_=ARRAY(Uuid))))
                              .values(incident_id=new_id, updated_at=func.now()))


def _shrink(incident: Incident, remaining: list[IncidentSignal], moved: list[IncidentSignal]) -> None:
    """The incident's counts, hosts, services and span from its remaining signals (ordered by onset)."""
    incident.event_count = max(incident.event_count - sum(s.count for s in moved), sum(s.count for s in remaining))
    incident.hosts = sorted({s.host for s in remaining if s.host})
    incident.services = sorted({s.service for s in remaining if s.service})
    incident.first_seen_at = min(s.first_seen_at for s in remaining)
    incident.last_seen_at = max(s.last_seen_at for s in remaining)
    earliest = remaining[0]
    if incident.group_key == moved[0].group_key:
        incident.group_key = earliest.group_key
    if incident.details.get("origin") == moved[0].group_key:
        incident.details = {**incident.details, "origin": earliest.group_key, "origin_kind": earliest.kind}
