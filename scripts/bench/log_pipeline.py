#!/usr/bin/env python3
"""Throughput of the whole log path on one worker process: raw lines in the logs stream -> header
parsing, template mining, failure rules, counts in PostgreSQL, embedding of NEW templates only
(all-MiniLM-L6-v2 on CPU) with prototype routing in ChromaDB -> error-ish lines grouped into incidents.

Usage: ``python scripts/bench/log_pipeline.py [--data DIR] [--lines N] [--only A,B] [--redis-url URL]``

Lines are the raw Loghub-2k files under DIR (default ../shared/bench-data/loghub), interleaved and
repeated to N lines. Runs against the real stores of the settings (a scratch PostgreSQL database,
dropped afterwards; a scratch Redis database index that is FLUSHED; ChromaDB collections with a
random prefix, deleted afterwards). Prints lines/s of the log task (model loading excluded, it
happens once at start), of the incident task, and of the CPU part alone; each beside its target, with
the load average and the worker process's CPU seconds (steadier than wall time on a shared machine).
"""

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from itertools import cycle, islice
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
for package in ("contracts", "worker"):
    sys.path.insert(0, str(ROOT / "services" / package))

import chromadb  # noqa: E402
from bench_stack import redis_db_url, require_stores  # noqa: E402
from chromadb.errors import NotFoundError  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from aiops_contracts.bus import Bus  # noqa: E402
from aiops_contracts.chroma import EMBEDDINGS_COLLECTION, PROTOTYPES_COLLECTION  # noqa: E402
from aiops_contracts.db import Incident, LogTemplate  # noqa: E402
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade  # noqa: E402
from aiops_contracts.db.session import make_engine, make_sessionmaker  # noqa: E402
from aiops_contracts.envelope import Envelope  # noqa: E402
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload  # noqa: E402
from aiops_contracts.heap import freeze_heap  # noqa: E402
from aiops_contracts.influx import InfluxClient  # noqa: E402
from aiops_contracts.streams import LOGS_INGESTED  # noqa: E402
from aiops_worker.incidents.task import LogIncidentTask  # noqa: E402
from aiops_worker.logs.task import LogMiningTask  # noqa: E402
from aiops_worker.producers.settings import LogProducerSettings  # noqa: E402
from aiops_worker.runtime.consumer import StreamConsumer  # noqa: E402
from aiops_worker.runtime.context import WorkerContext  # noqa: E402
from aiops_worker.settings import WorkerSettings  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "bench-data" / "loghub"
TARGETS = {"cold": 12_000, "warm": 20_000}  # whole path, lines/s on one worker (issue 18)


def load_lines(data: Path, count: int, only: set[str]) -> list[str]:
    files = [f for f in sorted(data.glob("*/*_2k.log")) if not only or f.parent.name in only]
    per_dataset = [f.read_text(errors="replace").splitlines() for f in files]
    if not per_dataset:
        sys.exit(f"no */*_2k.log under {data}")
    interleaved = [line for group in zip(*per_dataset) for line in group if line.strip()]
    return list(islice(cycle(interleaved), count))


def envelopes_of(lines: list[str], size: int) -> list[Envelope]:
    return [Envelope(type=LOGS_RECEIVED, source="bench",
                     payload=LogsPayload(records=[LogRecord(message=m) for m in lines[i:i + size]]).model_dump(mode="json"))
            for i in range(0, len(lines), size)]


async def timed(consumer: StreamConsumer) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (every thread) of draining the consumer's stream."""
    started, cpu = time.perf_counter(), time.process_time()
    await StreamConsumer.run(consumer, asyncio.Event(), drain=True)
    return time.perf_counter() - started, time.process_time() - cpu


async def publish(bus: Bus, lines: list[str], size: int) -> None:
    for i in range(0, len(lines), 50_000):
        await bus.publish_many(LOGS_INGESTED, envelopes_of(lines[i:i + 50_000], size))


async def one_pass(ctx: WorkerContext, mining: LogMiningTask, lines: list[str], label: str) -> None:
    """Publish the lines, then time the log task and the incident task draining them."""
    await publish(ctx.bus, lines, LogProducerSettings().logs_envelope_max_records)
    async with ctx.sessions() as session:
        events_before = await session.scalar(select(func.coalesce(func.sum(Incident.event_count), 0)))
    mining_s, mining_cpu = await timed(mining)
    incidents_s, incidents_cpu = await timed(LogIncidentTask(ctx))
    async with ctx.sessions() as session:
        templates = await session.scalar(select(func.count()).select_from(LogTemplate))
        incidents = await session.scalar(select(func.count()).select_from(Incident))
        events = await session.scalar(select(func.coalesce(func.sum(Incident.event_count), 0))) - events_before
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"[{label}] {len(lines):,} lines, {templates:,} templates so far (each embedded once), "
          f"{events:,} error-ish lines, {incidents:,} incidents so far")
    print(f"[{label}]   log task        {len(lines) / mining_s:>9,.0f} lines/s   ({mining_s:.2f} s; "
          f"CPU {mining_cpu:.2f} s: {len(lines) / max(mining_cpu, 1e-9):,.0f} lines per CPU second)")
    print(f"[{label}]   incident task   {events / max(incidents_s, 1e-9):>9,.0f} events/s  ({incidents_s:.2f} s; "
          f"CPU {incidents_cpu:.2f} s)")
    print(f"[{label}]   whole path      {len(lines) / (mining_s + incidents_s):>9,.0f} lines/s   "
          f"(target >= {TARGETS[label]:,}; load average {load})")
    # CPU seconds of the worker process are steadier than wall time on a shared machine: what one core
    # would give if the worker had it to itself (the stores' own CPU is not counted).
    print(f"[{label}]   whole path      {len(lines) / (mining_cpu + incidents_cpu):>9,.0f} lines per CPU second "
          f"of the worker (target >= {TARGETS[label]:,})")


async def bench(settings: WorkerSettings, lines: list[str]) -> None:
    """Cold: every template is new (mined, stored, embedded). Warm: the same traffic once more, as a
    running worker sees it (templates known, nothing to embed)."""
    redis = Redis.from_url(settings.redis_url)
    engine = make_engine(settings)
    ctx = WorkerContext(settings=settings, redis=redis, sessions=make_sessionmaker(engine), influx=InfluxClient(settings))
    await redis.flushdb()
    mining = LogMiningTask(ctx)
    await mining.start()  # loads the model: once per process, not per line
    freeze_heap()  # as the worker's main() does once started: what is alive now leaves the collector's sight
    try:
        await one_pass(ctx, mining, lines, "cold")
        while None in mining.prototype_of.values():  # what the periodic pass does between the two
            await mining.cluster_unassigned()
        await one_pass(ctx, mining, lines, "warm")
    finally:
        await redis.flushdb()
        await redis.aclose()
        await ctx.influx.aclose()
        await engine.dispose()


def cpu_only(lines: list[str]) -> None:
    """Parse + template + rules with no store at all: the ceiling of one core."""
    from aiops_worker.logs.analysis import LogAnalyser
    from aiops_worker.logs.mining import TemplateMiner
    from aiops_worker.logs.rules import Classifier, load_rules
    from aiops_worker.runtime.consumer import Delivery

    analyser = LogAnalyser(TemplateMiner(), Classifier(load_rules()), 300)
    batch = [Delivery("0-0", e, LogsPayload.model_validate(e.payload)) for e in envelopes_of(lines, 500)]
    started = time.perf_counter()
    analyser.analyse(batch, {d.envelope.id for d in batch})
    print(f"CPU part alone       {len(lines) / (time.perf_counter() - started):>10,.0f} lines/s")


async def drop_collections(settings: WorkerSettings) -> None:
    url = urlparse(settings.chroma_url)
    client = await chromadb.AsyncHttpClient(host=url.hostname, port=url.port)
    for name in (PROTOTYPES_COLLECTION, EMBEDDINGS_COLLECTION):
        with contextlib.suppress(NotFoundError):
            await client.delete_collection(settings.chroma_collection_prefix + name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--only", default="", help="comma-separated dataset folders, e.g. Linux,Mac,Apache")
    parser.add_argument("--redis-url", default=redis_db_url(14), help="a Redis database the bench may flush")
    args = parser.parse_args()
    base = WorkerSettings()
    require_stores(postgres=base.database_url, redis=args.redis_url, chroma=base.chroma_url)
    database_url = make_url(base.database_url).set(database=f"aiops_bench_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False)
    settings = base.model_copy(update={"database_url": database_url, "redis_url": args.redis_url,
                                       "chroma_collection_prefix": f"bench{uuid.uuid4().hex[:8]}_",
                                       "worker_name": "bench", "log_level": "WARNING"})
    lines = load_lines(args.data, args.lines, {name for name in args.only.split(",") if name})
    create_database_if_missing(database_url)
    try:
        upgrade(database_url)
        asyncio.run(bench(settings, lines))
    finally:
        drop_database(database_url)
        asyncio.run(drop_collections(settings))
    cpu_only(lines)


if __name__ == "__main__":
    main()
