"""What an incident's enrichment rests on, read from our own stores: the incident row, its log templates and
sample lines, its linked alerts, anomalies on the same hosts in its window, and similar past incidents (nearest in meaning among the
resolved ones, aiops_contracts.incident_memory) with who resolved them, how and how fast.

`material_key` says when evidence changed enough to explain the incident again: a new signal kind (log
category, alert source), a severity change, or 10x growth (the event count's order of magnitude)."""

import logging
import math
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.chroma import ChromaUnavailable
from aiops_contracts.db import Alert, Incident, LogTemplate
from aiops_contracts.events import ANOMALY_SOURCE
from aiops_contracts.incident_memory import IncidentMemory

log = logging.getLogger(__name__)

NEARBY = timedelta(hours=1)  # anomalies this long before the incident's first event count as context
MAX_ROWS = 10


class TemplateFact(BaseModel):
    id: str
    template: str
    count: int
    category: str | None


class AlertFact(BaseModel):
    id: str
    source: str
    title: str
    severity: str
    host: str | None
    count: int
    release: str | None = None  # the release the error came from (Sentry's `release` label): a recent deploy


class PastIncident(BaseModel):
    id: str
    title: str
    summary: str
    minutes_to_resolve: float | None
    resolved_by: str  # the operator who resolved it (audit log), else the aggregator (it went quiet)
    actions: list[str]  # automation runs on it: "<rule>: <status>"


class Evidence(BaseModel):
    incident_id: str
    title: str
    severity: str
    status: str
    event_count: int
    hosts: list[str]
    services: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    kind: str | None
    category: str | None
    templates: list[TemplateFact]
    samples: list[str]
    alerts: list[AlertFact]
    anomalies: list[AlertFact]
    similar: list[PastIncident]


def size_class(event_count: int) -> int:
    return int(math.log10(max(1, event_count)))


def material_key(evidence: Evidence) -> str:
    kinds = sorted({k for k in (evidence.kind, evidence.category) if k}
                   | {t.category for t in evidence.templates if t.category} | {a.source for a in evidence.alerts})
    return f"{evidence.severity}:{size_class(evidence.event_count)}:{','.join(kinds)}"[:500]


async def gather(session: AsyncSession, incident: Incident, memory: IncidentMemory | None) -> Evidence:
    template_ids = list(incident.details.get("template_ids", []))
    templates = (await session.scalars(select(LogTemplate).where(LogTemplate.id.in_(template_ids))
                                       .order_by(LogTemplate.count.desc()).limit(MAX_ROWS))).all()
    alerts = (await session.scalars(select(Alert).where(Alert.incident_id == incident.id)
                                    .order_by(Alert.count.desc()).limit(MAX_ROWS))).all()
    return Evidence(
        incident_id=str(incident.id), title=incident.title, severity=incident.severity, status=incident.status,
        event_count=incident.event_count, hosts=incident.hosts, services=incident.services,
        first_seen_at=incident.first_seen_at, last_seen_at=incident.last_seen_at,
        kind=incident.details.get("kind"), category=incident.details.get("category"),
        templates=[TemplateFact(id=t.id, template=t.template, count=t.count, category=t.category) for t in templates],
        samples=[str(s.get("message", "")) for s in incident.details.get("samples", [])[:5]],
        alerts=[_alert_fact(a) for a in alerts],
        anomalies=await _anomalies_nearby(session, incident),
        similar=await _similar_past(session, incident, memory),
    )


def _alert_fact(alert: Alert) -> AlertFact:
    return AlertFact(id=str(alert.id), source=alert.source, title=alert.title, severity=alert.severity,
                     host=alert.host, count=alert.count, release=alert.labels.get("release"))


async def _anomalies_nearby(session: AsyncSession, incident: Incident) -> list[AlertFact]:
    if not incident.hosts:
        return []
    rows = await session.scalars(
        select(Alert).where(Alert.source == ANOMALY_SOURCE, Alert.host_name.in_(incident.hosts),
                            Alert.last_seen_at >= incident.first_seen_at - NEARBY,
                            Alert.first_seen_at <= incident.last_seen_at,
                            or_(Alert.incident_id.is_(None), Alert.incident_id != incident.id))
        .order_by(Alert.last_seen_at.desc()).limit(MAX_ROWS))
    return [_alert_fact(a) for a in rows]


async def _similar_past(session: AsyncSession, incident: Incident,
                        memory: IncidentMemory | None) -> list[PastIncident]:
    if memory is None:
        return []
    try:
        past = await memory.similar(session, incident)
    except ChromaUnavailable:
        log.warning("similar incidents skipped, ChromaDB unavailable", extra={"incident_id": str(incident.id)})
        return []
    return [PastIncident(id=str(p.incident.id), title=p.incident.title, summary=p.incident.summary,
                         minutes_to_resolve=p.resolution.minutes_to_resolve, resolved_by=p.resolution.resolved_by,
                         actions=p.resolution.actions) for p in past]
