"""API models of incidents."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiops_api.logs.schemas import TemplateRead
from aiops_contracts.events import IncidentStatus, Severity, SignalKind, TimelineKind
from aiops_contracts.topology import HostName


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    group_key: str
    title: str
    summary: str
    severity: Severity
    status: IncidentStatus
    event_count: int
    hosts: list[str]
    services: list[str]
    details: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    next_cursor: str | None


class TimelineEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: TimelineKind
    count: int
    host: str | None
    template_id: str | None
    message: str


class IncidentLogs(BaseModel):
    """The log side of an incident: its templates, sample lines and timeline."""

    templates: list[TemplateRead]
    samples: list[dict[str, Any]]
    timeline: list[TimelineEntry]


class IncidentFilter(BaseModel):
    status: list[IncidentStatus] = []
    severity: list[Severity] = []
    host: HostName = None  # one of the incident's hosts (host names, as correlation lists them)
    since: datetime | None = None  # last seen at or after
    until: datetime | None = None  # last seen before


class EvidenceRead(BaseModel):
    """One signal of an incident: what it is, when, how often, and the rule and shared host/service/dependency
    (`via`) that joined it; `origin` marks the probable origin (the earliest upstream signal)."""

    model_config = ConfigDict(from_attributes=True)

    group_key: str
    kind: SignalKind | str = Field(description="What the signal is (older rows of an alert: its source's name)")
    source: str = Field(description="The source that sent it (empty for logs)")
    title: str
    host: str | None
    service: str | None
    template_id: str | None
    score: float | None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    rule: str
    via: str
    origin: bool = False


class IncidentSplitCreate(BaseModel):
    group_key: str = Field(min_length=1, max_length=255, description="The signal to move into an incident of its own")


class IncidentSplitRead(BaseModel):
    incident: IncidentRead
    new_incident: IncidentRead
