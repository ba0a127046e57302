"""Alert queries and the transitions people make (acknowledge, resolve), with audit entries."""

import uuid
from typing import Any, TypeVar

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aiops_api.alerts.schemas import AlertFilter, AlertRead
from aiops_api.errors import NotFound
from aiops_api.pagination import page, rows_page
from aiops_api.responses import model_columns
from aiops_api.triage import transition
from aiops_contracts.db import Alert
from aiops_contracts.events import AlertStatus

ALERTS = Alert.__table__  # reads go through Core: no ORM instances, no ORM compilation
T = TypeVar("T")


async def list_alerts(connection: AsyncConnection, *, filters: AlertFilter, cursor: str | None,
                      limit: int) -> dict[str, Any]:
    """A page of alerts, newest first: the body of an AlertPage (see aiops_api/responses.py)."""
    stmt = page(alerts_query(filters), ALERTS.c.last_seen_at, ALERTS.c.id, cursor, limit)
    return rows_page((await connection.execute(stmt)).all(), limit, "last_seen_at")


def alerts_query(filters: AlertFilter) -> Select[Any]:
    """The alerts that pass the filters, as plain rows for json_response; each filter leads an index on
    (filter, last_seen_at, id) (migrations 0020, 0022)."""
    c = ALERTS.c
    stmt = select(*model_columns(ALERTS, AlertRead, json_text=True))
    if filters.severity:
        stmt = stmt.where(c.severity.in_([s.value for s in filters.severity]))
    if filters.status:
        stmt = stmt.where(c.status.in_([s.value for s in filters.status]))
    if filters.source:
        stmt = stmt.where(c.source.in_(filters.source))
    if filters.host:
        stmt = stmt.where(c.host_name == filters.host)
    if filters.service:
        stmt = stmt.where(c.service == filters.service)
    if filters.since:
        stmt = stmt.where(c.last_seen_at >= filters.since)
    if filters.until:
        stmt = stmt.where(c.last_seen_at < filters.until)
    if filters.incident_id:
        stmt = stmt.where(c.incident_id == filters.incident_id)
    return stmt


async def get_alert(connection: AsyncConnection, *, alert_id: uuid.UUID) -> Row[Any]:
    """One alert, as a row of AlertRead's columns."""
    stmt = select(*model_columns(ALERTS, AlertRead, json_text=False)).where(ALERTS.c.id == alert_id)
    return _found((await connection.execute(stmt)).first(), alert_id)


async def set_alert_status(session: AsyncSession, *, alert_id: uuid.UUID, status: AlertStatus, actor: str) -> Alert:
    """Acknowledge or resolve (the rule of aiops_api/triage.py)."""
    alert = _found(await session.get(Alert, alert_id), alert_id)
    if await transition(session, alert, entity_type="alert", target=status, actor=actor):
        await session.commit()
    return alert


def _found(alert: T | None, alert_id: uuid.UUID) -> T:
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert
