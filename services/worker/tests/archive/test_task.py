"""The archive tasks on real Redis and PostgreSQL, and on a filesystem path: what the accepted streams carried
is kept compressed after the stream is trimmed, read back by time range once per envelope, and pruned."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from aiops_contracts.bus import Bus
from aiops_contracts.db import ArchiveBatch
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, LOGS_RECEIVED, AlertPayload, LogRecord, LogsPayload
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED
from aiops_worker.archive.store import read
from aiops_worker.archive.task import AlertArchiveTask, ArchiveRetentionTask, LogArchiveTask
from aiops_worker.runtime.context import WorkerContext

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def alert(n: int) -> Envelope:
    payload = AlertPayload(fingerprint=f"f{n}", title=f"Disk full {n}", host="db-1", occurred_at=T0)
    return Envelope(type=ALERT_RECEIVED, source="sentry", time=T0 + timedelta(seconds=n),
                    payload=payload.model_dump(mode="json"))


def logs(n: int) -> Envelope:
    payload = LogsPayload(records=[LogRecord(message=f"FATAL: too many connections {n}", host="db-1")])
    return Envelope(type=LOGS_RECEIVED, source="syslog", time=T0 + timedelta(seconds=n),
                    payload=payload.model_dump(mode="json"))


@pytest.fixture(params=["postgres", "filesystem"])
def ctx(request, worker_ctx: WorkerContext, tmp_path: Path) -> WorkerContext:
    settings = worker_ctx.settings.model_copy(update={"archive_backend": request.param,
                                                      "archive_path": str(tmp_path / "archive")})
    return replace(worker_ctx, settings=settings)


async def test_accepted_alerts_and_logs_outlive_the_trimmed_stream(ctx: WorkerContext, bus: Bus, redis: Redis,
                                                                   drain) -> None:
    await bus.publish_many(ALERTS_INGESTED, [alert(n) for n in range(5)])
    await bus.publish_many(LOGS_INGESTED, [logs(n) for n in range(3)])
    alerts_task, logs_task = AlertArchiveTask(ctx), LogArchiveTask(ctx)
    await drain(alerts_task)
    await drain(logs_task)
    await redis.xtrim(bus.key(ALERTS_INGESTED), maxlen=0)
    await redis.xtrim(bus.key(LOGS_INGESTED), maxlen=0)

    kept, more = await read(alerts_task.archive, ALERTS_INGESTED.name, T0 + timedelta(seconds=1),
                            T0 + timedelta(seconds=4), limit=100)
    assert [e.payload["fingerprint"] for e in kept] == ["f1", "f2", "f3"] and not more
    lines, _ = await read(logs_task.archive, LOGS_INGESTED.name, T0, T0 + timedelta(hours=1), limit=100)
    assert [e.payload["records"][0]["message"] for e in lines] == [f"FATAL: too many connections {n}" for n in range(3)]
    assert (await redis.xpending(bus.key(ALERTS_INGESTED), alerts_task.group_name))["pending"] == 0


async def test_a_redelivered_batch_is_kept_once_and_the_limit_says_more(ctx: WorkerContext, bus: Bus, drain) -> None:
    batch = [alert(n) for n in range(4)]
    task = AlertArchiveTask(ctx)
    await bus.publish_many(ALERTS_INGESTED, batch)
    await drain(task)
    await bus.publish_many(ALERTS_INGESTED, batch[:2])  # the same envelopes published again
    await drain(task)
    kept, more = await read(task.archive, ALERTS_INGESTED.name, T0, T0 + timedelta(hours=1), limit=100)
    assert [e.id for e in kept] == [e.id for e in batch] and not more
    first, more = await read(task.archive, ALERTS_INGESTED.name, T0, T0 + timedelta(hours=1), limit=3)
    assert [e.id for e in first] == [e.id for e in batch[:3]] and more


async def test_a_weighed_read_stops_at_the_limit_in_records(ctx: WorkerContext, bus: Bus, drain) -> None:
    """Log envelopes weighed by their lines: a read stops once the lines it holds pass the limit, and keeps the
    oldest envelopes whose lines fit in it."""
    task = LogArchiveTask(ctx)
    for n in range(4):  # a batch each, of 3 lines
        payload = LogsPayload(records=[LogRecord(message=f"line {n}-{i}") for i in range(3)])
        envelope = Envelope(type=LOGS_RECEIVED, source="syslog", time=T0 + timedelta(seconds=n),
                            payload=payload.model_dump(mode="json"))
        await bus.publish_many(LOGS_INGESTED, [envelope])
        await drain(task)

    def lines(envelope: Envelope) -> int:
        return len(envelope.payload["records"])

    window = (T0, T0 + timedelta(hours=1))
    kept, more = await read(task.archive, LOGS_INGESTED.name, *window, limit=7, weight=lines)
    assert [e.time for e in kept] == [T0, T0 + timedelta(seconds=1)] and more
    every, more = await read(task.archive, LOGS_INGESTED.name, *window, limit=12, weight=lines)
    assert len(every) == 4 and not more


async def test_retention_prunes_only_what_is_older(ctx: WorkerContext, bus: Bus, drain) -> None:
    task = AlertArchiveTask(ctx)
    await bus.publish_many(ALERTS_INGESTED, [alert(0)])
    await drain(task)
    await bus.publish_many(ALERTS_INGESTED, [alert(7200)])
    await drain(task)
    retention = ArchiveRetentionTask(ctx)
    now = T0 + timedelta(seconds=ctx.settings.archive_retention_s + 3600)
    assert await retention.prune(now) == 1
    kept, _ = await read(task.archive, ALERTS_INGESTED.name, T0, T0 + timedelta(days=1), limit=100)
    assert [e.payload["fingerprint"] for e in kept] == ["f7200"]


async def test_postgres_batches_are_compressed(worker_ctx: WorkerContext, bus: Bus, sessions, drain) -> None:
    envelopes = [logs(n) for n in range(200)]
    await bus.publish_many(LOGS_INGESTED, envelopes)
    await drain(LogArchiveTask(worker_ctx))
    async with sessions() as session:
        stored = await session.scalar(select(func.sum(func.length(ArchiveBatch.data))))
    raw = sum(len(e.model_dump_json()) for e in envelopes)
    assert stored is not None and stored * 5 < raw
