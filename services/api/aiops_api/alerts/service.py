"""Alert queries and the transitions people make (acknowledge, resolve), with audit entries."""

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.alerts.schemas import AlertFilter
from aiops_api.errors import NotFound
from aiops_api.pagination import page, rows_page
from aiops_api.responses import response_columns
from aiops_api.triage import transition
from aiops_contracts.db import Alert
from aiops_contracts.events import AlertStatus


async def list_alerts(session: AsyncSession, *, filters: AlertFilter, cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of alerts, newest first: the body of an AlertPage (see aiops_api/responses.py)."""
    rows = (await session.execute(page(alerts_query(filters), Alert.last_seen_at, Alert.id, cursor, limit))).all()
    return rows_page(rows, limit, "last_seen_at")


def alerts_query(filters: AlertFilter) -> Select[Any]:
    """The alerts that pass the filters, as plain rows for json_response (a read needs no ORM instances to
    track); each filter leads an index on (filter, last_seen_at, id) (migrations 0020, 0022)."""
    stmt = select(*response_columns(Alert.__table__))
    if filters.severity:
        stmt = stmt.where(Alert.severity.in_([s.value for s in filters.severity]))
    if filters.status:
        stmt = stmt.where(Alert.status.in_([s.value for s in filters.status]))
    if filters.source:
        stmt = stmt.where(Alert.source.in_(filters.source))
    if filters.host:
        stmt = stmt.where(Alert.host_name == filters.host)
    if filters.service:
        stmt = stmt.where(Alert.service == filters.service)
    if filters.since:
        stmt = stmt.where(Alert.last_seen_at >= filters.since)
    if filters.until:
        stmt = stmt.where(Alert.last_seen_at < filters.until)
    if filters.incident_id:
        stmt = stmt.where(Alert.incident_id == filters.incident_id)
    return stmt


async def get_alert(session: AsyncSession, *, alert_id: uuid.UUID) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


async def set_alert_status(session: AsyncSession, *, alert_id: uuid.UUID, status: AlertStatus, actor: str) -> Alert:
    """Acknowledge or resolve (the rule of aiops_api/triage.py)."""
    alert = await get_alert(session, alert_id=alert_id)
    if await transition(session, alert, entity_type="alert", target=status, actor=actor):
        await session.commit()
    return alert
