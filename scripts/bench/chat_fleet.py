"""The fleet the chat evaluation (chat_eval.py) asks about, posted through the real webhooks into a running API
and worker, at times relative to `now`:

- Telegraf metrics: ten hours of checkout's latency on web-3 with an injected spike an hour ago (the anomaly
  detector alerts), three days of disk use on db-1 climbing towards its limit (forecast to fill within the week) and
  on web-3 barely moving, and the latest CPU, memory and load of every host.
- Alertmanager: HostHighCpu on web-3 and DiskPressure on db-1 yesterday, notified a few times, then resolved.
- Sentry: a burst of "TypeError: cart.total is undefined" from checkout-frontend on web-5 two hours ago.
- Log lines: checkout on web-3 failing to reach its database (once before, resolved by an operator through the
  API, and again now), deadlocks in postgres on db-1, and upstream timeouts of the api service on api-7.

`name_ids` then waits until the pipeline made of them what the questions are about (incidents, alerts,
forecasts, templates, the past resolution) and names their ids for the fixtures."""

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.db import Alert, Forecast, Incident, IncidentResolution, LogTemplate
from aiops_contracts.events import ANOMALY_SOURCE, IncidentStatus

HOSTS = {"web-3": ("checkout", 22.0), "db-1": ("postgres", 65.0), "web-5": ("checkout-frontend", 80.0),
         "api-7": ("api", 75.0)}  # host: (service, idle CPU %)
CPU_POINTS, CPU_STEP_S, CPU_SPIKE_BACK = 600, 60, 60  # ten hours a minute apart; the spike an hour ago
DISK_DAYS, DISK_STEP_S = 3, 600
DB_ERROR = "could not connect to database db-1: too many connections for role checkout"
DEADLOCK = "ERROR: deadlock detected while updating table orders"
UPSTREAM = "upstream request to payments-gateway failed: connection timed out after 30 s"
TYPE_ERROR = "cart.total is undefined"


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def telegraf_lines(now: datetime) -> list[str]:
    rng = random.Random(15)
    cpu = []
    for i in range(CPU_POINTS):
        back = CPU_POINTS - i
        value = 50 + 5 * math.sin(2 * math.pi * i / 300) + rng.uniform(-1, 1) + (40 if back == CPU_SPIKE_BACK else 0)
        cpu.append(f"app,host=web-3,service=checkout latency_ms={value:.3f} "
                   f"{ns(now - timedelta(seconds=back * CPU_STEP_S))}")
    disk = []
    steps = DISK_DAYS * 86_400 // DISK_STEP_S
    for i in range(steps):
        at = ns(now - timedelta(seconds=(steps - i) * DISK_STEP_S))
        disk.append(f"disk,host=db-1,path=/var/lib/postgresql used_percent={60 + 28 * i / steps:.3f} {at}")
        disk.append(f"disk,host=web-3,path=/var used_percent={50 + i / steps:.3f} {at}")
    latest = [f"cpu,host={h},cpu=cpu-total usage_idle={idle} {ns(now)}\nmem,host={h} used_percent={100 - idle / 2} "
              f"{ns(now)}\nsystem,host={h} load1={(100 - idle) / 20:.2f} {ns(now)}" for h, (_, idle) in HOSTS.items()]
    return ["\n".join(cpu[i:i + 100]) for i in range(0, len(cpu), 100)] + \
        ["\n".join(disk[i:i + 200]) for i in range(0, len(disk), 200)] + latest


def alertmanager(status: str, name: str, host: str, summary: str, starts: datetime, ends: datetime | None) -> dict:
    alert = {"status": status, "labels": {"alertname": name, "instance": host, "severity": "warning"},
             "annotations": {"summary": summary}, "startsAt": starts.isoformat(),
             "endsAt": (ends or datetime(1, 1, 1, tzinfo=UTC)).isoformat(), "fingerprint": f"{name}-{host}"}
    return {"version": "4", "groupKey": f"{{}}:{{alertname=\"{name}\"}}", "status": status, "receiver": "aiops",
            "groupLabels": {"alertname": name}, "commonLabels": alert["labels"], "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": [alert]}


def sentry_event(at: datetime) -> dict:
    return {"event_id": uuid.uuid4().hex, "timestamp": at.timestamp(), "level": "error", "platform": "javascript",
            "server_name": "web-5", "release": "checkout-frontend@2.3.1",
            "tags": {"service": "checkout-frontend"},
            "exception": {"values": [{"type": "TypeError", "value": TYPE_ERROR}]}}


def log_lines(message: str, at: datetime, count: int) -> bytes:
    return "\n".join(json.dumps({"timestamp": (at + timedelta(seconds=i)).isoformat(), "level": "error",
                                 "message": message}) for i in range(count)).encode()


class Poster:
    """Webhook posts with each source's own credentials (sources created through the API)."""

    def __init__(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        self.client, self.admin = client, admin
        self.tokens: dict[str, str] = {}

    async def source(self, kind: str) -> str:
        if kind not in self.tokens:
            response = await self.client.post("/api/v1/sources", json={"name": kind, "kind": kind},
                                              headers=self.admin)
            response.raise_for_status()
            self.tokens[kind] = response.json()["token"]
        return self.tokens[kind]

    async def post(self, kind: str, path: str, **request: Any) -> None:
        token = await self.source(kind)
        auth = {"sentry": {"X-Sentry-Auth": f"Sentry sentry_key={token}, sentry_version=7"},
                "alertmanager": {"Authorization": f"Bearer {token}"}}.get(kind, {"X-AIOps-Token": token})
        response = await self.client.post(path, headers={**auth, **request.pop("headers", {})}, **request)
        assert response.status_code in (200, 202), f"{path}: {response.status_code} {response.text}"

    async def logs(self, message: str, host: str, at: datetime, count: int = 20) -> None:
        await self.post("logs", "/webhooks/logs", params={"host": host, "service": HOSTS[host][0]},
                        content=log_lines(message, at, count), headers={"Content-Type": "application/x-ndjson"})


async def post_fleet(client: httpx.AsyncClient, admin: dict[str, str], operator: dict[str, str],
                     sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
    poster = Poster(client, admin)
    for chunk in telegraf_lines(now):
        await poster.post("telegraf", "/webhooks/telegraf", content=chunk.encode())
    yesterday = (now - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    for name, host, summary, hour in (("HostHighCpu", "web-3", "CPU above 90 % on web-3", 10),
                                      ("DiskPressure", "db-1", "Disk pressure on db-1", 11)):
        starts = yesterday.replace(hour=hour)
        for _ in range(3 if host == "web-3" else 2):  # repeat notifications: web-3's was the noisier
            await poster.post("alertmanager", "/webhooks/alertmanager",
                              json=alertmanager("firing", name, host, summary, starts, None))
        await poster.post("alertmanager", "/webhooks/alertmanager",
                          json=alertmanager("resolved", name, host, summary, starts, starts + timedelta(minutes=40)))
    for i in range(5):
        await poster.post("sentry", "/api/7/store/", json=sentry_event(now - timedelta(hours=2, seconds=-i * 20)))
    # The first time checkout lost its database: an operator resolves it through the API.
    await poster.logs(DB_ERROR, "web-3", now - timedelta(minutes=50))
    past = await wait_for(lambda: _one(sessions, select(Incident.id).where(Incident.hosts.contains(["web-3"]),
                                                                           Incident.group_key.startswith("log:"))),
                          "checkout's first database incident")
    response = await client.post(f"/api/v1/incidents/{past}/resolve", headers=operator)
    assert response.status_code == 200, response.text
    await wait_for(lambda: _one(sessions, select(IncidentResolution.incident_id)
                                .where(IncidentResolution.incident_id == past)), "its resolution")
    await poster.logs(DB_ERROR, "web-3", datetime.now(UTC))  # again, after the resolution
    await poster.logs(DEADLOCK, "db-1", now - timedelta(minutes=30))
    await poster.logs(UPSTREAM, "api-7", now - timedelta(minutes=20))


async def name_ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Fixture names -> ids, once the pipeline made every one of them (incidents enriched)."""
    def incident(words: str, status: IncidentStatus) -> Callable[[], Awaitable[Any]]:
        """The incident (enriched) holding the log template that reads `words`."""
        async def find() -> Any:
            template = await _one(sessions, select(LogTemplate.id).where(LogTemplate.template.contains(words)))
            return template and await _one(sessions, select(Incident.id).where(
                Incident.details["template_ids"].contains([template]), Incident.status == status,
                Incident.details.has_key("enrichment")))
        return find

    def alert(*where: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: _one(sessions, select(Alert.id).where(*where))

    def forecast(host: str) -> Callable[[], Awaitable[Any]]:
        return lambda: _one(sessions, select(Forecast.series_key).where(Forecast.host == host,
                                                                        Forecast.measurement == "disk"))
    waits = {
        "I_DB_NOW": incident("could not connect", IncidentStatus.open),
        "I_DB_PAST": incident("could not connect", IncidentStatus.resolved),
        "I_DEADLOCK": incident("deadlock", IncidentStatus.open), "I_API": incident("timed out", IncidentStatus.open),
        "I_CHECKOUT": lambda: _one(sessions, select(Alert.incident_id).where(Alert.host == "web-5",
                                                                          Alert.incident_id.is_not(None))),
        "A_CPU": alert(Alert.title == "CPU above 90 % on web-3"), "A_DISK": alert(Alert.title == "Disk pressure on db-1"),
        "A_TYPEERR": alert(Alert.host == "web-5"), "A_ANOMALY": alert(Alert.source == ANOMALY_SOURCE, Alert.host == "web-3"),
        "F_DB1_DISK": forecast("db-1"), "F_WEB3_DISK": forecast("web-3"),
        "T_DB": lambda: _one(sessions, select(LogTemplate.id).where(LogTemplate.template.contains("could not connect"),
                                                                    LogTemplate.prototype_id.is_not(None))),
    }
    return {name: str(await wait_for(find, name)) for name, find in waits.items()}


async def _one(sessions: async_sessionmaker[AsyncSession], stmt: Any) -> Any:
    async with sessions() as session:
        return await session.scalar(stmt.limit(1))


async def wait_for(find: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while (found := await find()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scenario did not make {what} (the questions are about it)")
        await asyncio.sleep(0.2)
    return found
