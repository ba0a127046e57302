"""The queries behind each intent, over our own data (PostgreSQL): what they found as a headline, a table
and the citations (incidents, alerts, hosts, forecasts, by id and link)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.chat.intents import Intent, Known
from aiops_api.chat.schemas import Citation
from aiops_contracts.db import Alert, Forecast, Incident
from aiops_contracts.events import IncidentStatus

LIMIT = 10


@dataclass
class Found:
    headline: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)


async def known_names(session: AsyncSession) -> Known:
    hosts = select(func.jsonb_array_elements_text(Incident.hosts)).union(select(Alert.host).where(Alert.host.is_not(None)))
    services = select(func.jsonb_array_elements_text(Incident.services)).union(
        select(Alert.service).where(Alert.service.is_not(None)))
    sources = select(Alert.source).distinct()
    return Known(hosts=frozenset((await session.scalars(hosts.limit(5_000))).all()),
                 services=frozenset((await session.scalars(services.limit(5_000))).all()),
                 sources=frozenset((await session.scalars(sources.limit(500))).all()))


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


async def by_incident(session: AsyncSession, intent: Intent) -> Found:
    incident = await session.get(Incident, intent.incident_id)
    if incident is None:
        return Found(f"No incident {intent.incident_id} is known.", INCIDENT_COLUMNS)
    summary = incident.summary or "It has no summary yet."
    return Found(f"Incident {incident.id}: {incident.title}. {summary}", INCIDENT_COLUMNS,
                 [_incident_row(incident)], [incident_citation(incident)])


async def by_host(session: AsyncSession, intent: Intent) -> Found:
    stmt = _in_range(select(Incident).where(Incident.hosts.contains([intent.host])), intent)
    if not (intent.since or intent.until):
        stmt = stmt.where(Incident.status != IncidentStatus.resolved)
    found = await _incidents(session, stmt, f"{{n}} incident(s) involve {intent.host}.")
    found.citations.append(Citation(kind="host", id=str(intent.host), title=str(intent.host),
                                    link=f"/fleet/{intent.host}"))
    return found


async def by_service(session: AsyncSession, intent: Intent) -> Found:
    stmt = _in_range(select(Incident).where(Incident.services.contains([intent.service])), intent)
    return await _incidents(session, stmt, f"{{n}} incident(s) involve the service {intent.service}.")


async def open_incidents(session: AsyncSession, intent: Intent) -> Found:
    stmt = _in_range(select(Incident).where(Incident.status != IncidentStatus.resolved), intent)
    return await _incidents(session, stmt, "{n} incident(s) are open.")


async def similar_past(session: AsyncSession, intent: Intent) -> Found:
    """The latest incident the question is about (its host or service, else the latest open), and the resolved
    incidents of the same kind before it, with how long each took to resolve."""
    about = select(Incident)
    if intent.host:
        about = about.where(Incident.hosts.contains([intent.host]))
    elif intent.service:
        about = about.where(Incident.services.contains([intent.service]))
    current = await session.scalar(about.order_by(Incident.last_seen_at.desc()).limit(1))
    if current is None:
        return Found("No incident matches the question, so nothing to compare with.", INCIDENT_COLUMNS)
    templates = current.details.get("template_ids", [])[:5]
    same = [Incident.group_key == current.group_key, *(Incident.details["template_ids"].contains([t]) for t in templates)]
    stmt = select(Incident).where(Incident.id != current.id, Incident.status == IncidentStatus.resolved,
                                  Incident.first_seen_at < current.first_seen_at, or_(*same))
    past = (await session.scalars(stmt.order_by(Incident.first_seen_at.desc()).limit(LIMIT))).all()
    return Found(f"{len(past)} earlier incident(s) looked like {current.id} (\"{current.title}\").",
                 [*INCIDENT_COLUMNS, "minutes to resolve"], [[*_incident_row(p), _minutes_to_resolve(p)] for p in past],
                 [incident_citation(current), *(incident_citation(p) for p in past)])


def _minutes_to_resolve(incident: Incident) -> str:
    if incident.resolved_at is None:
        return ""
    return f"{(incident.resolved_at - incident.first_seen_at).total_seconds() / 60:.0f}"


async def capacity(session: AsyncSession, intent: Intent) -> Found:
    stmt = select(Forecast).where(Forecast.exhausts_at < intent.now + timedelta(days=7))
    if intent.host:
        stmt = stmt.where(Forecast.host == intent.host)
    rows = (await session.scalars(stmt.order_by(Forecast.exhausts_at).limit(LIMIT))).all()
    return Found(f"{len(rows)} series are forecast to cross their limit within a week.",
                 ["host", "metric", "last value", "limit", "exhausts at"],
                 [[f.host or "", f"{f.measurement}.{f.field} {_tags(f)}", f"{f.last_value:.1f}", str(f.threshold),
                   f"{f.exhausts_at:%Y-%m-%d %H:%M}"] for f in rows],
                 [Citation(kind="forecast", id=f.series_key, title=f"{f.host} {f.measurement}.{f.field} {_tags(f)}",
                           link=f"/fleet/{f.host}") for f in rows])


def _tags(f: Forecast) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(f.tags.items()) if k != "host")


async def noise(session: AsyncSession, intent: Intent) -> Found:
    since = intent.since or intent.now - timedelta(days=1)
    stmt = select(Alert).where(Alert.last_seen_at >= since)
    if intent.until:
        stmt = stmt.where(Alert.first_seen_at < intent.until)
    if intent.source:
        stmt = stmt.where(Alert.source == intent.source)
    matching = stmt.subquery()
    total = await session.scalar(select(func.coalesce(func.sum(matching.c.count), 0)))
    rows = (await session.scalars(stmt.order_by(Alert.count.desc()).limit(LIMIT))).all()
    who = intent.source or "all sources"
    return Found(f"{who}: {total} alert event(s) in {len({a.fingerprint for a in rows})} top alert(s) of the range.",
                 ["alert", "source", "title", "severity", "count", "host"],
                 [[str(a.id), a.source, a.title, a.severity, str(a.count), a.host or ""] for a in rows],
                 [Citation(kind="alert", id=str(a.id), title=a.title, link=f"/alerts?source={a.source}") for a in rows])


QUERIES: dict[str, Callable[[AsyncSession, Intent], Awaitable[Found]]] = {
    "incident": by_incident, "host": by_host, "service": by_service, "open": open_incidents,
    "similar": similar_past, "capacity": capacity, "noise": noise,
}
