"""The queries behind each intent, over our own data (PostgreSQL; InfluxDB for fleet metrics; ChromaDB for
log templates by meaning; past incidents by meaning as enrichment found them): what they found as a headline, a table and the citations
(incidents, alerts, hosts, forecasts, templates, by id and link). Every query only reads."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.chat.intents import MAX_RANGE, Intent, Known, Names
from aiops_api.chat.meaning import IntentMeaning
from aiops_api.chat.schemas import Citation, Proposal
from aiops_api.logs.search import LogSearch
from aiops_api.metrics.service import get_fleet
from aiops_contracts.chroma import ChromaUnavailable
from aiops_contracts.db import Alert, Forecast, Incident, IncidentResolution, LogTemplate
from aiops_contracts.events import ANOMALY_SOURCE, IncidentStatus
from aiops_contracts.influx import InfluxClient, InfluxUnavailable

LIMIT = 10
# How long the names a question is matched against are reused. Reading them runs a UNION over every alert (about
# 5 ms of API CPU and 8 ms in all with 10k names) that each question would otherwise pay; the price is that
# a host, service or source that first alerted within this time is not yet recognised by name.
KNOWN_NAMES_SECONDS = 10.0


def host_link(host: str) -> str:
    """The dashboard's page of a host; names come from the data, so each part of a link is encoded."""
    return f"/fleet/{quote(host, safe='')}"


def source_link(source: str) -> str:
    return f"/alerts?source={quote(source, safe='')}"


@dataclass(frozen=True)
class Stores:
    """What the queries read: PostgreSQL (a session), InfluxDB, and the template search (ChromaDB); and the
    intents by meaning, for questions no keyword decides."""

    session: AsyncSession
    influx: InfluxClient
    log_search: LogSearch
    meaning: IntentMeaning
    known: "KnownNames"


@dataclass
class Found:
    headline: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)  # automations matching a cited incident (chat/proposals.py)


async def known_names(session: AsyncSession) -> Known:
    hosts = select(func.jsonb_array_elements_text(Incident.hosts)).union(  # host names, on both sides
        select(Alert.host_name).where(Alert.host_name.is_not(None)))
    services = select(func.jsonb_array_elements_text(Incident.services)).union(
        select(Alert.service).where(Alert.service.is_not(None)))
    sources = select(Alert.source).distinct()
    return Known(hosts=Names(await session.scalars(hosts.limit(5_000))),
                 services=Names(await session.scalars(services.limit(5_000))),
                 sources=Names(await session.scalars(sources.limit(500))))


class KnownNames:
    """known_names, read again at most every KNOWN_NAMES_SECONDS; one per app (its state). While one question
    reads them, the others wait for its result rather than run the same query."""

    def __init__(self, ttl_s: float = KNOWN_NAMES_SECONDS) -> None:
        self.ttl_s = ttl_s
        self._lock = asyncio.Lock()
        self._known: Known | None = None
        self._read_at = 0.0

    async def get(self, session: AsyncSession) -> Known:
        async with self._lock:
            if self._known is None or time.monotonic() - self._read_at >= self.ttl_s:
                self._known = await known_names(session)
                self._read_at = time.monotonic()
            return self._known


def incident_citation(i: Incident) -> Citation:
    return Citation(kind="incident", id=str(i.id), title=i.title, link=f"/incidents/{i.id}")


def _incident_row(i: Incident) -> list[str]:
    return [str(i.id), i.title, i.severity, i.status, str(i.event_count), ", ".join(i.hosts[:3]),
            f"{i.first_seen_at:%Y-%m-%d %H:%M}", _cause(i)]


INCIDENT_COLUMNS = ["incident", "title", "severity", "status", "events", "hosts", "first seen", "probable cause"]


def _cause(i: Incident) -> str:
    return str(i.details.get("enrichment", {}).get("probable_cause", ""))[:200]


async def _incidents(session: AsyncSession, stmt: Select, headline: str) -> Found:
    rows = (await session.scalars(stmt.order_by(Incident.last_seen_at.desc()).limit(LIMIT))).all()
    return Found(headline.format(n=len(rows)), INCIDENT_COLUMNS, [_incident_row(i) for i in rows],
                 [incident_citation(i) for i in rows])


def _in_range(stmt: Select, intent: Intent) -> Select:
    if intent.since:
        stmt = stmt.where(Incident.last_seen_at >= intent.since)
    if intent.until:
        stmt = stmt.where(Incident.first_seen_at < intent.until)
    return stmt


async def by_incident(stores: Stores, intent: Intent) -> Found:
    incident = await stores.session.get(Incident, intent.incident_id)
    if incident is None:
        return Found(f"No incident {intent.incident_id} is known.", INCIDENT_COLUMNS)
    summary = incident.summary or "It has no summary yet."
    return Found(f"Incident {incident.id}: {incident.title}. {summary}", INCIDENT_COLUMNS,
                 [_incident_row(incident)], [incident_citation(incident)])


async def by_host(stores: Stores, intent: Intent) -> Found:
    stmt = _in_range(select(Incident).where(Incident.hosts.contains([intent.host])), intent)
    if not (intent.since or intent.until):
        stmt = stmt.where(Incident.status != IncidentStatus.resolved)
    found = await _incidents(stores.session, stmt, f"{{n}} incident(s) involve {intent.host}.")
    found.citations.append(Citation(kind="host", id=str(intent.host), title=str(intent.host),
                                    link=host_link(str(intent.host))))
    return found


async def by_service(stores: Stores, intent: Intent) -> Found:
    stmt = _in_range(select(Incident).where(Incident.services.contains([intent.service])), intent)
    return await _incidents(stores.session, stmt, f"{{n}} incident(s) involve the service {intent.service}.")


async def open_incidents(stores: Stores, intent: Intent) -> Found:
    stmt = _in_range(select(Incident).where(Incident.status != IncidentStatus.resolved), intent)
    return await _incidents(stores.session, stmt, "{n} incident(s) are open.")


async def similar_past(stores: Stores, intent: Intent) -> Found:
    """The latest incident the question is about (its host or service, else the latest one), and the resolved
    incidents its enrichment found nearest to it in meaning (aiops_contracts.incident_memory), with who resolved
    them, how and how fast."""
    about = select(Incident)
    if intent.host:
        about = about.where(Incident.hosts.contains([intent.host]))
    elif intent.service:
        about = about.where(Incident.services.contains([intent.service]))
    current = await stores.session.scalar(about.order_by(Incident.last_seen_at.desc()).limit(1))
    if current is None:
        return Found("No incident matches the question, so nothing to compare with.", INCIDENT_COLUMNS)
    order = [p["id"] for p in current.details.get("enrichment", {}).get("similar", [])]
    rows = sorted((await stores.session.execute(
        select(Incident, IncidentResolution).join(IncidentResolution).where(Incident.id.in_(order)))).all(),
        key=lambda row: order.index(str(row[0].id)))
    return Found(f"{len(rows)} earlier incident(s) looked like {current.id} (\"{current.title}\").",
                 [*INCIDENT_COLUMNS, "resolved by", "actions", "minutes to resolve"],
                 [[*_incident_row(past), how.resolved_by, ", ".join(how.actions) or "none",
                   f"{how.minutes_to_resolve:.0f}"] for past, how in rows],
                 [incident_citation(current), *(incident_citation(past) for past, _ in rows)])


async def capacity(stores: Stores, intent: Intent) -> Found:
    stmt = select(Forecast).where(Forecast.exhausts_at < intent.now + timedelta(days=7))
    if intent.host:
        stmt = stmt.where(Forecast.host == intent.host)
    rows = (await stores.session.scalars(stmt.order_by(Forecast.exhausts_at).limit(LIMIT))).all()
    return Found(f"{len(rows)} series are forecast to cross their limit within a week.",
                 ["host", "metric", "last value", "limit", "exhausts at"],
                 [[f.host or "", f"{f.measurement}.{f.field} {_tags(f)}", f"{f.last_value:.1f}", str(f.threshold),
                   f"{f.exhausts_at:%Y-%m-%d %H:%M}"] for f in rows],
                 [Citation(kind="forecast", id=f.series_key, title=f"{f.host} {f.measurement}.{f.field} {_tags(f)}",
                           link=host_link(f.host or "")) for f in rows])


def _tags(f: Forecast) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(f.tags.items()) if k != "host")


async def noise(stores: Stores, intent: Intent) -> Found:
    since = intent.since or intent.now - timedelta(days=1)
    stmt = select(Alert).where(Alert.last_seen_at >= since)
    if intent.until:
        stmt = stmt.where(Alert.first_seen_at < intent.until)
    if intent.source:
        stmt = stmt.where(Alert.source == intent.source)
    matching = stmt.subquery()
    total = await stores.session.scalar(select(func.coalesce(func.sum(matching.c.count), 0)))
    rows = (await stores.session.scalars(stmt.order_by(Alert.count.desc()).limit(LIMIT))).all()
    who = intent.source or "all sources"
    return Found(f"{who}: {total} alert event(s) in {len({a.fingerprint for a in rows})} top alert(s) of the range.",
                 ["alert", "source", "title", "severity", "count", "host"],
                 [[str(a.id), a.source, a.title, a.severity, str(a.count), a.host or ""] for a in rows],
                 [Citation(kind="alert", id=str(a.id), title=a.title, link=source_link(a.source)) for a in rows])


async def anomalies(stores: Stores, intent: Intent) -> Found:
    """The anomaly detector's alerts in the range (default: the last day), optionally on one host."""
    stmt = select(Alert).where(Alert.source == ANOMALY_SOURCE,
                               Alert.last_seen_at >= (intent.since or intent.now - timedelta(days=1)))
    if intent.until:
        stmt = stmt.where(Alert.first_seen_at < intent.until)
    if intent.host:
        stmt = stmt.where(Alert.host_name == intent.host)
    rows = (await stores.session.scalars(stmt.order_by(Alert.last_seen_at.desc()).limit(LIMIT))).all()
    return Found(f"{len(rows)} anomaly alert(s){f' on {intent.host}' if intent.host else ''} in the range.",
                 ["alert", "title", "severity", "host", "first seen", "last seen", "incident"],
                 [[str(a.id), a.title, a.severity, a.host or "", f"{a.first_seen_at:%Y-%m-%d %H:%M}",
                   f"{a.last_seen_at:%Y-%m-%d %H:%M}", str(a.incident_id or "")] for a in rows],
                 [Citation(kind="alert", id=str(a.id), title=a.title, link=source_link(ANOMALY_SOURCE)) for a in rows])


async def templates(stores: Stores, intent: Intent) -> Found:
    """Log templates nearest in meaning to the question (the words it asks about, embedded)."""
    try:
        nearest = await stores.log_search.nearest_templates(intent.text, LIMIT)
    except ChromaUnavailable:
        return Found("Log templates cannot be searched now (ChromaDB is unavailable).", [])
    distances = dict(nearest)
    rows = sorted(await stores.session.scalars(select(LogTemplate).where(LogTemplate.id.in_(distances),
                                                                         LogTemplate.merged_into.is_(None))),
                  key=lambda t: distances[t.id])
    return Found(f"{len(rows)} log template(s) read like the question.",
                 ["template", "text", "count", "category", "last seen"],
                 [[t.id, t.template, str(t.count), t.category or "", f"{t.last_seen_at:%Y-%m-%d %H:%M}"] for t in rows],
                 [Citation(kind="template", id=t.id, title=t.template[:200], link="/logs")
                  for t in rows])


async def metrics(stores: Stores, intent: Intent) -> Found:
    """The latest key metrics (CPU, memory, fullest disk, load) per host, or of one host."""
    span = min(intent.now - intent.since, MAX_RANGE) if intent.since else timedelta(hours=1)
    try:
        fleet = await get_fleet(stores.influx, since=span)
    except InfluxUnavailable:
        return Found("Fleet metrics cannot be read now (InfluxDB is unavailable).", [])
    hosts = [h for h in fleet.hosts if intent.host in (None, h.host)]
    hosts.sort(key=lambda h: -(h.cpu_used_percent or 0))
    return Found(f"Latest metrics of {len(hosts)} host(s) over the last {span.total_seconds() / 3600:g} h.",
                 ["host", "cpu %", "memory %", "fullest disk %", "load1", "last seen"],
                 [[h.host, _number(h.cpu_used_percent), _number(h.mem_used_percent), _number(h.disk_used_percent),
                   _number(h.load1), f"{h.last_seen:%Y-%m-%d %H:%M}"] for h in hosts[:LIMIT]],
                 [Citation(kind="host", id=h.host, title=h.host, link=host_link(h.host)) for h in hosts[:LIMIT]])


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


QUERIES: dict[str, Callable[[Stores, Intent], Awaitable[Found]]] = {
    "incident": by_incident, "host": by_host, "service": by_service, "open": open_incidents,
    "similar": similar_past, "capacity": capacity, "noise": noise, "anomalies": anomalies, "templates": templates,
    "metrics": metrics,
}
