"""Incident queries."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.errors import NotFound
from aiops_api.incidents.schemas import IncidentLogs, IncidentPage, IncidentRead, IncidentStatus, TimelineEntry
from aiops_api.logs.schemas import TemplateRead
from aiops_api.pagination import page, split_page
from aiops_contracts.db import Incident, IncidentEvent, LogTemplate
from aiops_contracts.events import Severity


async def list_incidents(
    session: AsyncSession, *, status: list[IncidentStatus], severity: list[Severity], cursor: str | None, limit: int
) -> IncidentPage:
    stmt = select(Incident)
    if status:
        stmt = stmt.where(Incident.status.in_(status))
    if severity:
        stmt = stmt.where(Incident.severity.in_([s.value for s in severity]))
    rows = list((await session.scalars(page(stmt, Incident.last_seen_at, Incident.id, cursor, limit))).all())
    items, next_cursor = split_page(rows, limit, "last_seen_at")
    return IncidentPage(items=[IncidentRead.model_validate(i) for i in items], next_cursor=next_cursor)


async def get_incident(session: AsyncSession, *, incident_id: uuid.UUID) -> Incident:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


async def get_incident_logs(session: AsyncSession, *, incident_id: uuid.UUID, timeline_limit: int) -> IncidentLogs:
    incident = await get_incident(session, incident_id=incident_id)
    template_ids = incident.details.get("template_ids", [])
    templates = await session.scalars(select(LogTemplate).where(LogTemplate.id.in_(template_ids)))
    timeline = await session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                                     .order_by(IncidentEvent.at, IncidentEvent.id).limit(timeline_limit))
    return IncidentLogs(templates=[TemplateRead.model_validate(t) for t in templates],
                        samples=incident.details.get("samples", []),
                        timeline=[TimelineEntry.model_validate(e) for e in timeline])
