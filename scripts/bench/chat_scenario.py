"""A small seeded scenario for the API's chat tests: incidents (with what enrichment found: cause, similar past
incidents), resolutions, alerts and forecasts with fixed ids, at times relative to `now`, written straight to
PostgreSQL through the shared models. The evaluation (scripts/bench/chat_eval.py) posts its own fleet through
the real webhooks instead (chat_fleet.py)."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Alert, Forecast, Incident, IncidentResolution
from aiops_contracts.events import IncidentStatus


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


I_DB_NOW, I_DB_PAST, I_SLOW, I_API, I_CHECKOUT = uid(1), uid(2), uid(3), uid(4), uid(5)
A_CPU, A_DISK, A_TYPEERR, A_ANOMALY = uid(101), uid(102), uid(103), uid(104)
F_DB1_DISK, F_WEB3_DISK = "disk,host=db-1,path=/var/lib/postgresql", "disk,host=web-3,path=/var"


def _incident(iid: uuid.UUID, title: str, *, key: str, at: datetime, hosts: list[str], services: list[str],
              resolved_after: timedelta | None = None, severity: str = "high", cause: str = "",
              similar: tuple[uuid.UUID, ...] = ()) -> Incident:
    details = {"template_ids": [key.split(":")[1]], "samples": []}
    if cause:
        details["enrichment"] = {"probable_cause": cause, "mode": "rules", "similar": [{"id": str(s)} for s in similar]}
    return Incident(id=iid, group_key=key, title=title, summary=cause, severity=severity,
                    status=IncidentStatus.resolved if resolved_after else IncidentStatus.open, event_count=42,
                    hosts=hosts, services=services, details=details, first_seen_at=at,
                    last_seen_at=at + (resolved_after or timedelta(minutes=20)),
                    resolved_at=at + resolved_after if resolved_after else None)


def _alert(aid: uuid.UUID, source: str, title: str, *, at: datetime, host: str, count: int,
           incident_id: uuid.UUID | None = None, service: str | None = None) -> Alert:
    return Alert(id=aid, source=source, fingerprint=f"fp-{aid.int}", title=title, description="", severity="medium",
                 status="firing", host=host, service=service, labels={}, annotations={}, details={}, count=count,
                 first_seen_at=at, last_seen_at=at + timedelta(minutes=30), last_event_id=f"e-{aid.int}",
                 incident_id=incident_id)


def _forecast(key: str, host: str, path: str, *, now: datetime, exhausts_in: timedelta) -> Forecast:
    return Forecast(series_key=key, measurement="disk", field="used_percent", host=host, tags={"host": host, "path": path},
                    threshold=95.0, method="linear", last_value=88.0, last_point_at=now, computed_at=now,
                    forecast=[], exhausts_at=now + exhausts_in, details={})


async def seed(session: AsyncSession, now: datetime) -> None:
    today_14 = now.replace(hour=14, minute=0, second=0, microsecond=0)
    yesterday = now - timedelta(days=1)
    session.add_all([
        _incident(I_DB_NOW, "Connection refused to db-1 from checkout", key="log:tdb:web-3", at=now - timedelta(hours=1),
                  hosts=["web-3"], services=["checkout"], cause="db-1 connection pool exhausted", similar=(I_DB_PAST,)),
        _incident(I_DB_PAST, "Connection refused to db-1 from checkout", key="log:tdb:web-3",
                  at=now - timedelta(days=3), hosts=["web-3"], services=["checkout"],
                  resolved_after=timedelta(minutes=25), cause="db-1 restarted for a kernel upgrade"),
        _incident(I_SLOW, "Slow queries on db-1", key="log:tslow:db-1", at=now - timedelta(hours=2), hosts=["db-1"],
                  services=["postgres"], severity="medium"),
        _incident(I_API, "High latency on api-7", key="alert:host:api-7", at=yesterday.replace(hour=9),
                  hosts=["api-7"], services=["api"], resolved_after=timedelta(minutes=50)),
        _incident(I_CHECKOUT, "TypeError spike in checkout", key="alert:service:checkout", at=today_14,
                  hosts=["web-5"], services=["checkout-frontend"], cause="release 2.3.1 broke the cart total"),
    ])
    await session.flush()
    session.add_all([
        _alert(A_CPU, "alertmanager", "HostHighCpu on web-3", at=yesterday.replace(hour=10), host="web-3", count=40),
        _alert(A_DISK, "alertmanager", "DiskPressure on db-1", at=yesterday.replace(hour=11), host="db-1", count=12),
        _alert(A_TYPEERR, "sentry", "TypeError: cart.total is undefined", at=today_14, host="web-5", count=5,
               incident_id=I_CHECKOUT, service="checkout-frontend"),
        _alert(A_ANOMALY, "anomaly-detector", "Anomaly: cpu usage on web-3", at=now - timedelta(hours=1),
               host="web-3", count=1, incident_id=I_DB_NOW),
        _forecast(F_DB1_DISK, "db-1", "/var/lib/postgresql", now=now, exhausts_in=timedelta(days=3)),
        _forecast(F_WEB3_DISK, "web-3", "/var", now=now, exhausts_in=timedelta(days=20)),
        *(IncidentResolution(incident_id=i, resolved_at=now, resolved_by="alice", actions=[], minutes_to_resolve=m)
          for i, m in ((I_DB_PAST, 25.0), (I_API, 50.0))),
    ])

