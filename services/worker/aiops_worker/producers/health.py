"""Health of polled sources: after each poll, what happened is kept in Redis (hash `POLLER_HEALTH_KEY:<id>` under BUS_PREFIX,
read by the API) and in Prometheus metrics of this worker (per source, removed when it stops here)."""

import time
from contextlib import suppress
from typing import NamedTuple

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from aiops_contracts.settings import CommonSettings
from aiops_contracts.streams import POLLER_HEALTH_KEY
from aiops_worker.settings import WorkerSettings

POLLS = Counter("aiops_poller_polls_total", "Polls of a polled source, by outcome (ok, failed)",
                ["source", "kind", "outcome"])
POINTS = Counter("aiops_poller_points_total", "Metrics, alerts and log records a polled source produced",
                 ["source", "kind"])
POLL_SECONDS = Gauge("aiops_poller_last_poll_seconds", "Duration of the source's last poll", ["source", "kind"])
LAST_SUCCESS = Gauge("aiops_poller_last_success_timestamp_seconds", "Unix time of the source's last good poll",
                     ["source", "kind"])
RUNNING = Gauge("aiops_pollers_running", "Polled sources this worker holds the lease of")


class SourceRef(NamedTuple):
    id: str
    name: str
    kind: str


def health_key(settings: CommonSettings, source_id: str) -> str:
    return settings.redis_key(POLLER_HEALTH_KEY, source_id)


async def record_poll(redis: Redis, settings: WorkerSettings, source: SourceRef, *, duration_s: float,
                      points: int, error: str | None) -> None:
    """One poll's outcome: `error` None is a success; `points` it published (a poll failing in some parts publishes
    the others')."""
    labels = (source.name, source.kind)
    POLL_SECONDS.labels(*labels).set(duration_s)
    now = time.time()
    fields: dict[str, str | float | int] = {"worker": settings.worker_name, "last_poll_at": now, "duration_s": round(duration_s, 4)}
    key = health_key(settings, source.id)
    POINTS.labels(*labels).inc(points)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "points_total", points)
        if error is None:
            POLLS.labels(*labels, "ok").inc()
            LAST_SUCCESS.labels(*labels).set(now)
            pipe.hset(key, mapping=fields | {"last_success_at": now, "points": points, "consecutive_failures": 0})
        else:
            POLLS.labels(*labels, "failed").inc()
            pipe.hset(key, mapping=fields | {"last_error": error[:1000], "last_error_at": now})
            pipe.hincrby(key, "consecutive_failures", 1)
        await pipe.execute()


def forget(source: SourceRef) -> None:
    """Drop the source's series from this worker's metrics (it stopped here)."""
    labels = (source.name, source.kind)
    for metric in (POINTS, POLL_SECONDS, LAST_SUCCESS):
        with suppress(KeyError):
            metric.remove(*labels)
    for outcome in ("ok", "failed"):
        with suppress(KeyError):
            POLLS.remove(*labels, outcome)
