"""HTTP routes of alerts."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from aiops_api.alerts import service
from aiops_api.alerts.schemas import AlertFilter, AlertPage, AlertRead
from aiops_api.deps import Operator, ReadConnectionDep, SessionDep, Viewer
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aiops_api.responses import json_response
from aiops_contracts.events import AlertStatus, Severity

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
HOST_FILTER = "Alerts on this host, by host name: `db-1` finds those of `DB-1` and `db-1.prod.example.com`"


@router.get("", operation_id="list_alerts", response_model=AlertPage)
async def list_alerts(
    _: Viewer,
    connection: ReadConnectionDep,
    severity: Annotated[list[Severity], Query()] = [],
    status: Annotated[list[AlertStatus], Query()] = [],
    source: Annotated[list[str], Query()] = [],
    host: Annotated[str | None, Query(max_length=255, description=HOST_FILTER)] = None,
    service_name: Annotated[str | None, Query(alias="service")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    filters = AlertFilter(severity=severity, status=status, source=source, host=host, service=service_name,
                          since=since, until=until)
    return json_response(await service.list_alerts(connection, filters=filters, cursor=cursor, limit=limit))


@router.get("/{alert_id}", operation_id="get_alert")
async def get_alert(alert_id: uuid.UUID, _: Viewer, connection: ReadConnectionDep) -> AlertRead:
    return AlertRead.model_validate(await service.get_alert(connection, alert_id=alert_id))


@router.post("/{alert_id}/acknowledge", operation_id="acknowledge_alert")
async def acknowledge_alert(alert_id: uuid.UUID, session: SessionDep, user: Operator) -> AlertRead:
    alert = await service.set_alert_status(session, alert_id=alert_id, status=AlertStatus.acknowledged, actor=user.subject)
    return AlertRead.model_validate(alert)


@router.post("/{alert_id}/resolve", operation_id="resolve_alert")
async def resolve_alert(alert_id: uuid.UUID, session: SessionDep, user: Operator) -> AlertRead:
    alert = await service.set_alert_status(session, alert_id=alert_id, status=AlertStatus.resolved, actor=user.subject)
    return AlertRead.model_validate(alert)
