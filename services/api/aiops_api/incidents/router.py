"""HTTP routes of incidents."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.deps import Operator, RedisDep, SessionDep, SettingsDep, Viewer
from aiops_api.incidents import service
from aiops_api.incidents.schemas import IncidentLogs, IncidentPage, IncidentRead, IncidentStatus
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aiops_api.triage import ACKNOWLEDGED, RESOLVED
from aiops_contracts.events import Severity

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


@router.get("", operation_id="list_incidents")
async def list_incidents(
    session: SessionDep,
    _: Viewer,
    status: Annotated[list[IncidentStatus], Query()] = [],
    severity: Annotated[list[Severity], Query()] = [],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> IncidentPage:
    return await service.list_incidents(session, status=status, severity=severity, cursor=cursor, limit=limit)


@router.get("/{incident_id}", operation_id="get_incident")
async def get_incident(incident_id: uuid.UUID, session: SessionDep, _: Viewer) -> IncidentRead:
    return IncidentRead.model_validate(await service.get_incident(session, incident_id=incident_id))


@router.get("/{incident_id}/logs", operation_id="get_incident_logs")
async def get_incident_logs(incident_id: uuid.UUID, session: SessionDep, _: Viewer,
                            timeline_limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT) -> IncidentLogs:
    return await service.get_incident_logs(session, incident_id=incident_id, timeline_limit=timeline_limit)


# 404: no such incident; 409: the transition is not allowed (acknowledging a resolved incident).
TRANSITION_ERRORS = {404: {"description": "No such incident"}, 409: {"description": "Transition not allowed"}}


@router.post("/{incident_id}/acknowledge", operation_id="acknowledge_incident", responses=TRANSITION_ERRORS)
async def acknowledge_incident(incident_id: uuid.UUID, session: SessionDep, redis: RedisDep, settings: SettingsDep,
                               user: Operator) -> IncidentRead:
    """Someone is on it. The incident keeps collecting events; acknowledging again changes nothing."""
    incident = await service.set_incident_status(session, redis, incident_id=incident_id, status=ACKNOWLEDGED,
                                                 actor=user.subject, maxlen_factor=settings.stream_maxlen_factor)
    return IncidentRead.model_validate(incident)


@router.post("/{incident_id}/resolve", operation_id="resolve_incident", responses=TRANSITION_ERRORS)
async def resolve_incident(incident_id: uuid.UUID, session: SessionDep, redis: RedisDep, settings: SettingsDep,
                           user: Operator) -> IncidentRead:
    """Resolved now. A new event within INCIDENT_REOPEN_S reopens it, later ones open a new incident;
    resolving a resolved incident changes nothing."""
    incident = await service.set_incident_status(session, redis, incident_id=incident_id, status=RESOLVED,
                                                 actor=user.subject, maxlen_factor=settings.stream_maxlen_factor)
    return IncidentRead.model_validate(incident)
