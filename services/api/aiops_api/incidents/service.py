"""Incident queries, and the transitions operators make (acknowledge, resolve, reopen): audited, on the
incident's timeline, and announced like the aggregator's changes (`aiops:incidents:changed` + live channel),
through the outbox of aiops_contracts.incidents (by the worker's next sweep when the API could not)."""

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import Row, Select, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aiops_api.alerts import service as alerts_service
from aiops_api.alerts.schemas import AlertFilter
from aiops_api.errors import NotFound
from aiops_api.incidents.schemas import IncidentFilter, IncidentLogs, IncidentRead, TimelineEntry
from aiops_api.logs.schemas import TemplateRead
from aiops_api.pagination import page, rows_page
from aiops_api.responses import model_columns
from aiops_api.triage import VERBS, transition
from aiops_contracts.bus import Bus, StreamBacklogFull
from aiops_contracts.db import Incident, IncidentEvent, LogTemplate
from aiops_contracts.events import INCIDENT_OPENED, INCIDENT_RESOLVED, INCIDENT_UPDATED, IncidentStatus
from aiops_contracts.incidents import announce_pending

log = logging.getLogger(__name__)

SOURCE = "api"
INCIDENTS = Incident.__table__  # reads go through Core: no ORM instances, no ORM compilation
# What an operator's change is announced as, by the status it leaves the incident in.
STATUS_EVENTS = {IncidentStatus.acknowledged: INCIDENT_UPDATED, IncidentStatus.resolved: INCIDENT_RESOLVED,
                 IncidentStatus.open: INCIDENT_OPENED}


async def list_incidents(connection: AsyncConnection, *, filters: IncidentFilter, cursor: str | None,
                         limit: int) -> dict[str, Any]:
    """A page of incidents, newest activity first: the body of an IncidentPage (see aiops_api/responses.py)."""
    stmt = page(incidents_query(filters), INCIDENTS.c.last_seen_at, INCIDENTS.c.id, cursor, limit)
    return rows_page((await connection.execute(stmt)).all(), limit, "last_seen_at")


def incidents_query(filters: IncidentFilter) -> Select[Any]:
    """The incidents that pass the filters, as plain rows for json_response; each filter has its index
    (migration 0020)."""
    c = INCIDENTS.c
    stmt = select(*model_columns(INCIDENTS, IncidentRead, json_text=True))
    if filters.status:
        stmt = stmt.where(c.status.in_(filters.status))
    if filters.severity:
        stmt = stmt.where(c.severity.in_([s.value for s in filters.severity]))
    if filters.host:
        stmt = stmt.where(c.hosts.contains([filters.host]))  # JSONB @>
    if filters.since:
        stmt = stmt.where(c.last_seen_at >= filters.since)
    if filters.until:
        stmt = stmt.where(c.last_seen_at < filters.until)
    return stmt


async def get_incident(connection: AsyncConnection, *, incident_id: uuid.UUID) -> Row[Any]:
    """One incident, as a row of IncidentRead's columns."""
    stmt = select(*model_columns(INCIDENTS, IncidentRead, json_text=False)).where(INCIDENTS.c.id == incident_id)
    incident = (await connection.execute(stmt)).first()
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


async def list_incident_alerts(connection: AsyncConnection, *, incident_id: uuid.UUID, cursor: str | None,
                               limit: int) -> dict[str, Any]:
    """The alerts grouped into the incident, newest first (the alerts list, filtered)."""
    await get_incident(connection, incident_id=incident_id)
    return await alerts_service.list_alerts(connection, filters=AlertFilter(incident_id=incident_id), cursor=cursor,
                                            limit=limit)


async def get_incident_logs(connection: AsyncConnection, *, incident_id: uuid.UUID, timeline_limit: int) -> IncidentLogs:
    incident = await get_incident(connection, incident_id=incident_id)
    templates = LogTemplate.__table__
    timeline = IncidentEvent.__table__
    template_rows = await connection.execute(
        select(templates).where(templates.c.id.in_(incident.details.get("template_ids", []))))
    timeline_rows = await connection.execute(select(timeline).where(timeline.c.incident_id == incident_id)
                                             .order_by(timeline.c.at, timeline.c.id).limit(timeline_limit))
    return IncidentLogs(templates=[TemplateRead.model_validate(t) for t in template_rows],
                        samples=incident.details.get("samples", []),
                        timeline=[TimelineEntry.model_validate(e) for e in timeline_rows])


async def set_incident_status(session: AsyncSession, bus: Bus, *, incident_id: uuid.UUID, status: IncidentStatus,
                              actor: str) -> Incident:
    """Acknowledge, resolve or reopen (the rule of aiops_api/triage.py; a repeat changes and announces nothing).

    The row is locked first: the aggregator locks the same row while it adds events, so an operator's
    change and a batch of events never overwrite each other. A manual resolution sets `resolved_at` to
    now; the aggregator's reopen rule reads only that (incidents/aggregator.py, rules 3 and 4). A manual
    reopening counts in `details.reopen_count` like the aggregator's; the incident then follows the
    aggregator's rules again (new events join it; after its window of quiet the sweep resolves it).
    """
    incident = await session.get(Incident, incident_id, with_for_update=True, populate_existing=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    changed = await transition(session, incident, entity_type="incident", target=status, actor=actor)
    if changed:
        at = incident.resolved_at if status == IncidentStatus.resolved else datetime.now(UTC)
        if status == IncidentStatus.open:
            incident.details = {**incident.details, "reopen_count": incident.details.get("reopen_count", 0) + 1}
        session.add(IncidentEvent(incident_id=incident.id, event_id=None, at=at, kind=VERBS[status], count=0,
                                  host=None, template_id=None, message=f"{VERBS[status]} by {actor}",
                                  announce=STATUS_EVENTS[status]))
    await session.commit()  # also ends the lock when nothing changed
    if changed:
        await announce_changes(session, bus, [incident.id])
    return incident


async def announce_changes(session: AsyncSession, bus: Bus, incident_ids: list[uuid.UUID]) -> None:
    """Announce the incidents' committed changes, waiting in the outbox on the timeline rows the change wrote
    (aiops_contracts.incidents). Best effort: the change is committed, so a Redis outage or a full stream must not
    turn the answer into an error (a retry would find nothing to change), nor must a PostgreSQL error while reading or
    clearing the rows; the rows keep waiting, the worker's next sweep announces them under the same ids, and it is
    logged."""
    try:
        await announce_pending(session, bus, source=SOURCE, incidents=incident_ids)
        await session.commit()  # the rows announced
    except (RedisError, OSError, StreamBacklogFull, SQLAlchemyError) as exc:
        log.warning("incident change not announced yet", extra={"incident_ids": [str(i) for i in incident_ids],
                                                                 "error": repr(exc)})
        session.expunge_all()  # the answer is read from the committed objects, which a rollback would expire
        await session.rollback()  # the rows' locks ended, their marks kept
