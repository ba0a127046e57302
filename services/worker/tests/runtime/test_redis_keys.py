"""The worker's state in Redis lives under BUS_PREFIX, as its streams do: a second deployment, a test run or a
replay sharing the Redis (with another prefix) neither sees nor takes the first's heartbeat, poller leases,
source health, anomaly detector state or file-tail offsets."""

import asyncio
import uuid
from pathlib import Path

from redis.asyncio import Redis

from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LOGS_INGESTED
from aiops_worker.anomalies.task import AnomalyTask
from aiops_worker.producers import health
from aiops_worker.producers.file_tail import FileTailProducer
from aiops_worker.producers.leases import Leases
from aiops_worker.producers.settings import FileTailSettings
from aiops_worker.runtime import health as heartbeat
from aiops_worker.runtime.context import WorkerContext

T0 = 1_700_000_000.0


def beside(ctx: WorkerContext, **update: str) -> WorkerContext:
    """A second deployment on the same Redis: another prefix (not starting with the first's), same names."""
    settings = ctx.settings.model_copy(update={"bus_prefix": f"aiops-test-other-{uuid.uuid4().hex[:8]}:", **update})
    return WorkerContext(settings=settings, redis=ctx.redis, sessions=ctx.sessions, influx=ctx.influx)


async def tail(ctx: WorkerContext, path: Path) -> list[str]:
    producer = FileTailProducer(ctx, FileTailSettings(file_tail_paths=[str(path)], file_tail_from_start=True))
    for _ in range(2):
        if envelopes := await producer.poll():
            await ctx.bus.publish_many(LOGS_INGESTED, envelopes)
            await producer.published(envelopes)
    return [r["message"] for _, f in await ctx.redis.xrange(ctx.bus.key(LOGS_INGESTED))
            for r in Envelope.from_entry(f).payload["records"]]


def outside(keys: set[str], *contexts: WorkerContext) -> set[str]:
    return {k for k in keys if not k.startswith(tuple(ctx.settings.bus_prefix for ctx in contexts))}


async def test_a_second_prefix_has_its_own_heartbeat_detector_state_and_file_offsets(
        worker_ctx: WorkerContext, redis: Redis, tmp_path: Path) -> None:
    first, second = worker_ctx, beside(worker_ctx)
    assert first.settings.worker_name == second.settings.worker_name

    # Heartbeat: same worker name, each deployment's own key; one stopping leaves the other alive.
    await heartbeat.HeartbeatTask(redis, first.settings).tick(asyncio.Event())
    assert not await heartbeat._check(second.settings)
    await heartbeat.HeartbeatTask(redis, second.settings).tick(asyncio.Event())
    await heartbeat.HeartbeatTask(redis, second.settings).stopped()
    assert await heartbeat._check(first.settings)

    # Anomaly detector state: the other deployment's series of the same id starts fresh.
    saved = AnomalyTask(first).cache
    await saved.load(["s"])
    saved.update("s", T0, 1.0)
    assert await saved.flush() == 1
    other = AnomalyTask(second).cache
    await other.load(["s"])
    assert other.update("s", T0, 1.0) is not None  # restored state would have seen T0 already

    # File tail offsets: both read the whole file (a shared offset left the second with nothing).
    path = tmp_path / "app.log"
    path.write_text("alpha\nbeta\n")
    assert await tail(first, path) == ["alpha", "beta"]
    assert await tail(second, path) == ["alpha", "beta"]

    keys = {k.decode() for k in await redis.keys("*")}
    assert keys and outside(keys, first, second) == set()
    assert {"aiops:worker:heartbeat:test-worker", "aiops:anomalies:detectors", "aiops:logs:file-tail:offsets"} <= {
        k.removeprefix(first.settings.bus_prefix) for k in keys}


async def test_a_second_prefix_has_its_own_poller_leases_and_source_health(worker_ctx: WorkerContext,
                                                                            redis: Redis) -> None:
    first, second = worker_ctx, beside(worker_ctx)
    # Each deployment's worker holds its own source "s1", and the live replicas are counted apart.
    mine = Leases(redis, first.settings.model_copy(update={"worker_name": "w-first"}))
    theirs = Leases(redis, second.settings.model_copy(update={"worker_name": "w-second"}))
    assert await mine.hold(["s1", "s2"], 0) == {"s1", "s2"}
    assert await theirs.hold(["s1", "s2"], 0) == {"s1", "s2"}
    assert (mine.share, theirs.share) == (2, 2)  # one live replica each, not two sharing four sources

    # Source health: recorded by one, unseen by the other.
    await health.record_poll(redis, first.settings, health.SourceRef("s1", "sw", "snmp"), duration_s=0.1, points=3,
                             error=None)
    assert await redis.hgetall(health.health_key(second.settings, "s1")) == {}

    keys = {k.decode() for k in await redis.keys("*")}
    assert outside(keys, first, second) == set()
    assert {"aiops:sources:lease:s1", "aiops:sources:lease:replicas", "aiops:sources:health:s1"} <= {
        k.removeprefix(first.settings.bus_prefix) for k in keys}
