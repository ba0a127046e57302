"""The overview's aggregates: a few indexed aggregate queries over one window of whole hours, and the
stores' health checked beside them.

What is counted (the window starts at the top of the hour, `hours - 1` hours before the current one):
- alert volume and `alert_events`: alert notifications the worker accepted and stored, repeats included
  (rows of the `alerts-store` handler in the `processed_events` ledger, by `handled_at`). The ledger
  keeps PROCESSED_EVENTS_RETENTION_S (7 d by default, the longest window): a shorter retention shortens
  what can be counted;
- `log_lines`: log lines templated by the log miner (`log_template_counts`);
- `alerts` / `incidents` / top sources: distinct alerts / incidents last seen in the window;
- open incidents: every incident not resolved (open or acknowledged), whatever its age.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from aiops_api.forecasts import service as forecasts_service
from aiops_api.overview.schemas import NoiseReduction, Overview, SourceVolume, StoreHealth, VolumeBucket
from aiops_contracts.db import Alert, Incident, LogTemplateCount, ProcessedEvent
from aiops_contracts.db.processed import ALERT_STORE_HANDLER
from aiops_contracts.events import IncidentStatus, Severity

TOP_SOURCES = 5
EXHAUSTION_LIMIT = 10


async def get_overview(session: AsyncSession, *, state: State, hours: int) -> Overview:
    """The store checks (the same cached report /ready serves) run while the queries do; a store that is down
    shows in `stores` (PostgreSQL being down fails the queries, answered 503 like any request)."""
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    stores, (volume, noise, by_severity, top, exhaustion) = await asyncio.gather(
        state.readiness.report(state), _aggregates(session, start, hours))
    return Overview(window_start=start, hours=hours, open_incidents_by_severity=by_severity, alert_volume=volume,
                    noise_reduction=noise, top_sources=top, exhaustion=exhaustion,
                    stores=[StoreHealth(name=n, ok=result == "ok", detail=result) for n, result in stores.items()])


async def _aggregates(session: AsyncSession, start: datetime, hours: int) -> tuple:
    volume = await _alert_volume(session, start, hours)
    noise = await _noise(session, start, alert_events=sum(b.count for b in volume))
    return (volume, noise, await _open_by_severity(session), await _top_sources(session, start),
            (await forecasts_service.list_exhaustion(session, host=None, limit=EXHAUSTION_LIMIT)).items)


async def _alert_volume(session: AsyncSession, start: datetime, hours: int) -> list[VolumeBucket]:
    hour = func.date_bin(timedelta(hours=1), ProcessedEvent.handled_at, start).label("hour")
    rows = await session.execute(
        select(hour, func.count()).where(ProcessedEvent.handled_at >= start,
                                         ProcessedEvent.handler == ALERT_STORE_HANDLER).group_by(hour))
    counts: dict[datetime, int] = dict(rows.all())
    buckets = [start + timedelta(hours=i) for i in range(hours)]
    return [VolumeBucket(bucket_start=at, count=counts.get(at, 0)) for at in buckets]


async def _noise(session: AsyncSession, start: datetime, *, alert_events: int) -> NoiseReduction:
    alerts = select(func.count()).select_from(Alert).where(Alert.last_seen_at >= start).scalar_subquery()
    incidents = select(func.count()).select_from(Incident).where(Incident.last_seen_at >= start).scalar_subquery()
    log_lines = (select(func.coalesce(func.sum(LogTemplateCount.count), 0))
                 .where(LogTemplateCount.bucket_start >= start).scalar_subquery())
    row = (await session.execute(select(alerts, incidents, log_lines))).one()
    return NoiseReduction(events=alert_events + row[2], alert_events=alert_events, log_lines=row[2], alerts=row[0],
                          incidents=row[1])


async def _open_by_severity(session: AsyncSession) -> dict[Severity, int]:
    rows = await session.execute(select(Incident.severity, func.count()).where(Incident.status != IncidentStatus.resolved)
                                 .group_by(Incident.severity))
    counts: dict[str, int] = dict(rows.all())
    return {severity: counts.get(severity.value, 0) for severity in Severity}


async def _top_sources(session: AsyncSession, start: datetime) -> list[SourceVolume]:
    alerts = func.count().label("alerts")
    rows = await session.execute(select(Alert.source, alerts).where(Alert.last_seen_at >= start)
                                 .group_by(Alert.source).order_by(alerts.desc(), Alert.source).limit(TOP_SOURCES))
    return [SourceVolume(source=source, alerts=n) for source, n in rows]
