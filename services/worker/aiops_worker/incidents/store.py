"""PostgreSQL side of the aggregator. Keys are locked (transaction advisory locks, in key order) before
their latest incidents are read, so two workers never open two incidents for one key."""

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Incident, IncidentEvent
from aiops_contracts.events import IncidentStatus, TimelineKind


async def lock_latest(session: AsyncSession, keys: set[str]) -> dict[str, Incident]:
    """Lock the group keys and return the latest incident of each (rows locked too)."""
    if not keys:
        return {}
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                               "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"), {"keys": sorted(keys)})
    latest = (select(Incident.id).where(Incident.group_key.in_(keys)).ext(distinct_on(Incident.group_key))
              .order_by(Incident.group_key, Incident.first_seen_at.desc(), Incident.id))
    rows = await session.scalars(select(Incident).where(Incident.id.in_(latest)).with_for_update())
    return {incident.group_key: incident for incident in rows}


async def add_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(IncidentEvent), rows)


async def incidents_of_envelopes(session: AsyncSession, envelope_ids: list[str]) -> list[tuple[Incident, str]]:
    """Incidents that envelopes handled before had changed (to announce them again on a redelivery)."""
    if not envelope_ids:
        return []
    rows = await session.execute(
        select(Incident, IncidentEvent.event_id).join(IncidentEvent, IncidentEvent.incident_id == Incident.id)
        .where(IncidentEvent.event_id.in_(envelope_ids)).distinct())
    return [(incident, envelope_id) for incident, envelope_id in rows]


async def link_alerts(session: AsyncSession, links: dict[str, uuid.UUID]) -> None:
    """Point alert rows (by id) at their incidents, in one statement."""
    if links:
        await session.execute(
            text("UPDATE alerts SET incident_id = link.incident_id, updated_at = now() "
                 "FROM unnest(CAST(:alerts AS uuid[]), CAST(:incidents AS uuid[])) AS link(alert_id, incident_id) "
                 "WHERE alerts.id = link.alert_id AND alerts.incident_id IS DISTINCT FROM link.incident_id"),
            {"alerts": list(links), "incidents": [str(i) for i in links.values()]})


async def resolve_quiet(session: AsyncSession, key_prefix: str, window: timedelta) -> list[Incident]:
    """Resolve the incidents of keys starting with `key_prefix` without a new event for `window` (wall
    clock); returns them."""
    resolved = list(await session.scalars(
        update(Incident)
        .where(Incident.status.in_((IncidentStatus.open, IncidentStatus.acknowledged)), Incident.group_key.startswith(key_prefix),
               Incident.updated_at < func.now() - window)
        .values(status=IncidentStatus.resolved, resolved_at=func.least(Incident.last_seen_at + window, func.now()),
                updated_at=func.now())
        .returning(Incident)))
    await add_timeline(session, [
        {"incident_id": i.id, "event_id": None, "at": i.resolved_at, "kind": TimelineKind.resolved, "count": 0, "host": None,
         "template_id": None, "message": ""} for i in resolved])
    return resolved


