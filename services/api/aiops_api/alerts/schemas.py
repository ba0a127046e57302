"""API models of alerts."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from aiops_contracts.events import AlertStatus, Severity
from aiops_contracts.topology import HostName


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str
    fingerprint: str
    title: str
    description: str
    severity: Severity
    status: AlertStatus
    host: str | None
    service: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    details: dict[str, Any]
    url: str | None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    incident_id: uuid.UUID | None


class AlertPage(BaseModel):
    items: list[AlertRead]
    next_cursor: str | None


class AlertFilter(BaseModel):
    severity: list[Severity] = []
    status: list[AlertStatus] = []
    source: list[str] = []
    host: HostName = None  # compared with the alerts' host_name
    service: str | None = None
    since: datetime | None = None  # last seen at or after
    until: datetime | None = None  # last seen before
    incident_id: uuid.UUID | None = None  # the alerts grouped into this incident
