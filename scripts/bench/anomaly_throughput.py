"""Anomaly task throughput: metric points per second through parsing and detection, for thousands of series.

Runs the worker's own AnomalyTask in-process on real Redis (a scratch database index) and InfluxDB (a
throwaway database). Series are `bench,host=hN` × `--fields` numeric fields, as Telegraf sends them (one
line per host and time, many fields a line). Every series first gets `--warmup` points, so that the
detectors are past their warm-up and scoring, then `--points` more points are timed:

- parse: line protocol → points (numeric_points), alone;
- task: stream → parse → detect → anomaly points to InfluxDB → alerts to the stream (drain mode);
- state: saving every detector to Redis (what a shutdown does), and its size per series.

    .venv/bin/python scripts/bench/anomaly_throughput.py --hosts 200 --fields 10 --warmup 200 --points 50
"""

import argparse
import asyncio
import resource
import time
import uuid

import httpx
import numpy as np
from bench_stack import redis_db_url, require_stores
from redis.asyncio import Redis

from aiops_contracts.bus import Bus
from aiops_contracts.db.session import make_engine, make_sessionmaker
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import METRICS_RECEIVED, MetricsPayload
from aiops_contracts.influx import InfluxClient
from aiops_contracts.streams import ALERTS_INGESTED, ANOMALY_DETECTORS_KEY, METRICS_INGESTED
from aiops_worker.anomalies.series import numeric_points
from aiops_worker.anomalies.task import AnomalyTask
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.settings import WorkerSettings

START_NS = 1_700_000_000 * 10**9
STEP_NS = 10 * 10**9  # Telegraf's default interval
LINES_PER_ENTRY = 1_000  # one stream entry per this many lines, like a Telegraf flush


def batches(args: argparse.Namespace, first: int, count: int) -> list[str]:
    """Line protocol for `count` time steps from step `first`: noisy waves, a spike now and then."""
    rng = np.random.default_rng(first)
    lines = []
    for step in range(first, first + count):
        size = args.hosts * args.fields
        values = 50 + 10 * np.sin(step / 50 + np.arange(size)) + rng.normal(0, 1, size)
        values[rng.random(values.size) < 0.001] += 40
        for host in range(args.hosts):
            row = values[host * args.fields:(host + 1) * args.fields]
            fields = ",".join(f"f{i}={v:.3f}" for i, v in enumerate(row))
            lines.append(f"bench,host=h{host},region=eu {fields} {START_NS + step * STEP_NS}")
    return ["\n".join(lines[i:i + LINES_PER_ENTRY]) for i in range(0, len(lines), LINES_PER_ENTRY)]


async def publish(bus: Bus, chunks: list[str]) -> None:
    envelopes = [Envelope(type=METRICS_RECEIVED, source="bench",
                          payload=MetricsPayload(lines=c, count=c.count("\n") + 1).model_dump()) for c in chunks]
    for i in range(0, len(envelopes), 100):
        await bus.publish_many(METRICS_INGESTED, envelopes[i:i + 100])


async def timed_drain(task: AnomalyTask) -> float:
    started = time.perf_counter()
    await task.run(asyncio.Event(), drain=True)  # also saves the detector state at the end
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    database = f"aiops_bench_{uuid.uuid4().hex[:8]}"
    settings = WorkerSettings(redis_url=args.redis_url, influx_database=database, worker_name="bench",
                              anomaly_max_series=args.hosts * args.fields, anomaly_state_flush_s=1e9)
    require_stores(redis=args.redis_url, influx=settings.influx_url)
    redis = Redis.from_url(args.redis_url)
    influx = InfluxClient(settings)
    engine = make_engine(settings)  # the anomaly task never uses PostgreSQL; the context wants a factory
    ctx = WorkerContext(settings=settings, redis=redis, sessions=make_sessionmaker(engine), influx=influx)
    state_key = settings.redis_key(ANOMALY_DETECTORS_KEY)
    scratch = (ctx.bus.key(METRICS_INGESTED), ctx.bus.key(ALERTS_INGESTED), state_key, f"{state_key}:saved")
    await redis.delete(*scratch)
    await influx.create_database()
    task = AnomalyTask(ctx)
    series = args.hosts * args.fields
    try:
        await publish(ctx.bus, batches(args, 0, args.warmup))
        warmup_s = await timed_drain(task)
        print(f"series: {series}; warm-up: {series * args.warmup:,} points in {warmup_s:.1f} s "
              f"({series * args.warmup / warmup_s:,.0f} points/s, detectors still warming)")
        chunks = batches(args, args.warmup, args.points)
        started = time.perf_counter()
        points = sum(len(numeric_points(c, 0)[0]) for c in chunks)
        parse_s = time.perf_counter() - started
        await publish(ctx.bus, chunks)
        task_s = await timed_drain(task)
        state_bytes = sum(len(v) for v in (await redis.hgetall(state_key)).values())
        alerts = await redis.xlen(ctx.bus.key(ALERTS_INGESTED))
        print(f"parse only: {points / parse_s:,.0f} points/s")
        print(f"anomaly task (stream → parse → detect → InfluxDB/alerts, state saved): {points:,} points in "
              f"{task_s:.1f} s = {points / task_s:,.0f} points/s")
        print(f"state: {state_bytes / series / 1024:.1f} KiB per series in Redis; worker max RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; alerts raised: {alerts}")
    finally:
        await redis.delete(*scratch)
        await redis.aclose()
        await influx.aclose()
        await engine.dispose()
        httpx.post(f"{settings.influx_url}/query", data={"q": f'DROP DATABASE "{database}"'})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--fields", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=200, help="points per series before timing (≥ 180)")
    parser.add_argument("--points", type=int, default=50, help="timed points per series")
    parser.add_argument("--redis-url", default=redis_db_url(12), help="a scratch Redis database")
    asyncio.run(main(parser.parse_args()))
