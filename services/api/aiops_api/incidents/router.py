"""HTTP routes of incidents."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from aiops_api.alerts.schemas import AlertPage
from aiops_api.deps import BusDep, Operator, ReadConnectionDep, SessionDep, Viewer
from aiops_api.incidents import evidence, service
from aiops_api.incidents.schemas import (
    EvidenceRead,
    IncidentFilter,
    IncidentLogs,
    IncidentPage,
    IncidentRead,
    IncidentSplitCreate,
    IncidentSplitRead,
)
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aiops_api.responses import json_response
from aiops_contracts.events import IncidentStatus, Severity

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
HOST_FILTER = "Incidents that involve this host, by host name: `DB-1.prod.example.com` finds those of `db-1`"


@router.get("", operation_id="list_incidents", response_model=IncidentPage)
async def list_incidents(
    _: Viewer,
    connection: ReadConnectionDep,
    status: Annotated[list[IncidentStatus], Query()] = [],
    severity: Annotated[list[Severity], Query()] = [],
    host: Annotated[str | None, Query(max_length=255, description=HOST_FILTER)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """Newest activity first; `since`/`until` bound the last activity (`last_seen_at`)."""
    filters = IncidentFilter(status=status, severity=severity, host=host, since=since, until=until)
    return json_response(await service.list_incidents(connection, filters=filters, cursor=cursor, limit=limit))


@router.get("/{incident_id}", operation_id="get_incident")
async def get_incident(incident_id: uuid.UUID, _: Viewer, connection: ReadConnectionDep) -> IncidentRead:
    return IncidentRead.model_validate(await service.get_incident(connection, incident_id=incident_id))


@router.get("/{incident_id}/alerts", operation_id="list_incident_alerts", response_model=AlertPage,
            responses={404: {"description": "No such incident"}})
async def list_incident_alerts(incident_id: uuid.UUID, _: Viewer, connection: ReadConnectionDep, cursor: str | None = None,
                               limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT) -> Response:
    """The alerts grouped into the incident, newest first, in pages like GET /api/v1/alerts."""
    return json_response(await service.list_incident_alerts(connection, incident_id=incident_id, cursor=cursor,
                                                            limit=limit))


@router.get("/{incident_id}/logs", operation_id="get_incident_logs")
async def get_incident_logs(incident_id: uuid.UUID, _: Viewer, connection: ReadConnectionDep,
                            timeline_limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT) -> IncidentLogs:
    return await service.get_incident_logs(connection, incident_id=incident_id, timeline_limit=timeline_limit)


# 404: no such incident; 409: the transition is not allowed (acknowledging a resolved incident, reopening one
# that is not resolved).
TRANSITION_ERRORS = {404: {"description": "No such incident"}, 409: {"description": "Transition not allowed"}}


async def _set_status(incident_id: uuid.UUID, status: IncidentStatus, session: SessionDep, bus: BusDep,
                      user: Operator) -> IncidentRead:
    incident = await service.set_incident_status(session, bus, incident_id=incident_id, status=status,
                                                 actor=user.subject)
    return IncidentRead.model_validate(incident)


@router.post("/{incident_id}/acknowledge", operation_id="acknowledge_incident", responses=TRANSITION_ERRORS)
async def acknowledge_incident(incident_id: uuid.UUID, session: SessionDep, bus: BusDep,
                               user: Operator) -> IncidentRead:
    """Someone is on it. The incident keeps collecting events; acknowledging again changes nothing."""
    return await _set_status(incident_id, IncidentStatus.acknowledged, session, bus, user)


@router.post("/{incident_id}/resolve", operation_id="resolve_incident", responses=TRANSITION_ERRORS)
async def resolve_incident(incident_id: uuid.UUID, session: SessionDep, bus: BusDep,
                           user: Operator) -> IncidentRead:
    """Resolved now. A new event within INCIDENT_REOPEN_S reopens it, later ones open a new incident;
    resolving a resolved incident changes nothing."""
    return await _set_status(incident_id, IncidentStatus.resolved, session, bus, user)


@router.post("/{incident_id}/reopen", operation_id="reopen_incident", responses=TRANSITION_ERRORS)
async def reopen_incident(incident_id: uuid.UUID, session: SessionDep, bus: BusDep,
                          user: Operator) -> IncidentRead:
    """Back to `open` (the fix did not hold): only a resolved incident reopens (409 otherwise; reopening an open
    one changes nothing). Like the aggregator's reopening, it clears `resolved_at`, adds `reopened` to the
    timeline and counts in `details.reopen_count`; the incident then collects events again and, after its
    window of quiet, is resolved again by the aggregator's sweep."""
    return await _set_status(incident_id, IncidentStatus.open, session, bus, user)


@router.get("/{incident_id}/evidence", operation_id="list_incident_evidence",
            responses={404: {"description": "No such incident"}})
async def list_incident_evidence(incident_id: uuid.UUID, _: Viewer, connection: ReadConnectionDep) -> list[EvidenceRead]:
    """The incident's signals by onset: kind, first/last seen, count, the template or error, the anomaly score,
    the rule and shared host/service/dependency that joined each, and the probable origin marked."""
    return await evidence.list_evidence(connection, incident_id=incident_id)


@router.post("/{incident_id}/split", operation_id="split_incident",
             responses={404: {"description": "No such incident or signal"},
                        409: {"description": "The signal is the incident's only one"}})
async def split_incident(incident_id: uuid.UUID, body: IncidentSplitCreate, session: SessionDep, bus: BusDep,
                         user: Operator) -> IncidentSplitRead:
    """Move a wrongly merged signal into an incident of its own; audited, and remembered: the aggregator does
    not merge that signal with the ones it left for 24 h."""
    incident, new = await evidence.split_signal(session, incident_id=incident_id, group_key=body.group_key,
                                                actor=user.subject)
    await service.announce_changes(session, bus, [incident.id, new.id])
    return IncidentSplitRead(incident=IncidentRead.model_validate(incident), new_incident=IncidentRead.model_validate(new))
