"""HTTP routes of incidents."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.deps import SessionDep, Viewer
from aiops_api.incidents import service
from aiops_api.incidents.schemas import IncidentLogs, IncidentPage, IncidentRead, IncidentStatus
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT
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
