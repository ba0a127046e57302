"""Fault benchmark: under steady generic-webhook ingest, kill -9 the worker and restart it N times, hand its
consumers over to a new worker, and stop PostgreSQL for a while; then check that every accepted event is
stored exactly once, and print the counts.

    .venv/bin/python scripts/bench/fault_ingest.py [--kills 10] [--pg-outage-s 30] [--rate 400]

PostgreSQL is a PRIVATE instance (initdb into a temp dir, its own port), so stopping it harms nothing else.
Redis is the one at REDIS_URL, database index --redis-db (flushed at the start). Exits 1 when an accepted
event is lost or stored twice.
"""

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from bench_stack import JWT_SECRET, Service, free_port, log, machine_token, redis_db_url, require_stores, wait_healthy
from redis.asyncio import Redis

from aiops_contracts.db.processed import ALERT_STORE_HANDLER
from aiops_contracts.streams import ALERTS_INGESTED, WORKER_HEARTBEAT_KEY

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
# A service's start on a loaded 2-core machine (it imports pandas/prophet/torch first): a worker took 100 s at load 10.
START_TIMEOUT_S = 180.0
BATCH = 10  # alerts per webhook request


class PrivatePostgres:
    """A throwaway PostgreSQL cluster owned by this process: start, stop (the outage), start again."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aiops-pg-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/aiops_fault"

    def _run(self, *command: object) -> None:
        subprocess.run([*self.as_user, *map(str, command)], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(PG_BIN / "pg_ctl", "-D", self.dir / "data", "-o", options, "-l", self.dir / "log", "-w", "start")

    def stop(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Ingest:
    accepted: set[str] = field(default_factory=set)
    refused: dict[int, int] = field(default_factory=dict)  # status (0: no answer) → requests
    fingerprints: dict[str, str] = field(default_factory=dict)  # event id → its alert's fingerprint


async def create_source(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/v1/sources", json={"name": f"fault-{uuid.uuid4().hex[:6]}", "kind": "generic"},
                                     headers={"Authorization": f"Bearer {machine_token('admin')}"})
        response.raise_for_status()
        return response.json()["token"]


async def send_steadily(url: str, token: str, rate: float, stop: asyncio.Event, ingest: Ingest) -> None:
    """Posts BATCH alerts, each with a fingerprint of its own, `rate / BATCH` times a second until stopped."""
    interval = BATCH / rate
    async with httpx.AsyncClient(base_url=url, headers={"X-AIOps-Token": token}, timeout=10) as client:
        next_at = time.monotonic()
        while not stop.is_set():
            alerts = [{"title": "fault bench", "fingerprint": uuid.uuid4().hex, "host": "bench"} for _ in range(BATCH)]
            try:
                response = await client.post("/webhooks/generic", json=alerts)
                status = response.status_code
            except httpx.TransportError:
                status = 0
            if status == 202:
                ids = response.json()["event_ids"]
                ingest.accepted.update(ids)
                ingest.fingerprints.update(zip(ids, (a["fingerprint"] for a in alerts), strict=True))
            else:
                ingest.refused[status] = ingest.refused.get(status, 0) + 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def stored_counts(pg: PrivatePostgres, fingerprints: list[str]) -> dict[str, int]:
    """Per fingerprint, how many events its row counts (1 = stored exactly once)."""
    with psycopg.connect(pg.url.replace("+psycopg", "")) as conn:
        rows = conn.execute("SELECT fingerprint, count FROM alerts WHERE fingerprint = ANY(%s)", (fingerprints,))
        return dict(rows.fetchall())


async def wait_stored(pg: PrivatePostgres, ingest: Ingest, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    fingerprints = list(ingest.fingerprints.values())
    while True:
        counts = stored_counts(pg, fingerprints)
        if len(counts) >= len(fingerprints) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


@dataclass
class Faults:
    args: argparse.Namespace
    pg: PrivatePostgres
    redis: Redis
    start_worker: Callable[[str], Service]
    log: Callable[[str], None]

    async def worker_running(self, name: str) -> Service:
        """Starts a worker and returns once it consumes (its heartbeat key appears)."""
        key = f"{WORKER_HEARTBEAT_KEY}:{name}"
        await self.redis.delete(key)  # a killed worker leaves its key until the TTL ends
        worker = self.start_worker(name)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await self.redis.exists(key):
            if worker.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start: see {worker.log_path}")
            await asyncio.sleep(0.1)
        return worker

    async def kill(self, worker: Service, what: str) -> None:
        await asyncio.sleep(random.uniform(0.5, self.args.kill_interval_s))
        pending = (await self.redis.xpending(ALERTS_INGESTED.name, ALERT_STORE_HANDLER))["pending"]  # the store's group
        worker.kill()
        self.log(f"{what}: SIGKILL with {pending} entries pending")

    async def inflict(self) -> None:
        worker = await self.worker_running("fault-a")
        for i in range(self.args.kills):
            await self.kill(worker, f"worker kill {i + 1}/{self.args.kills}")
            worker = await self.worker_running("fault-a")
        await self.kill(worker, "consumer fault-a gone for good, fault-b takes its entries over (XAUTOCLAIM)")
        await self.worker_running("fault-b")
        await asyncio.sleep(self.args.kill_interval_s)
        self.pg.stop()
        self.log(f"PostgreSQL stopped for {self.args.pg_outage_s} s")
        await asyncio.sleep(self.args.pg_outage_s)
        self.pg.start()
        self.log("PostgreSQL started again")
        await asyncio.sleep(self.args.kill_interval_s)


def service_env(args: argparse.Namespace, pg: PrivatePostgres, api_port: int) -> dict[str, str]:
    return {
        **os.environ, "ENVIRONMENT": "test", "DATABASE_URL": pg.url, "REDIS_URL": redis_db_url(args.redis_db),
        "JWT_SECRET": JWT_SECRET, "API_PORT": str(api_port), "WORKER_METRICS_PORT": "0", "LOG_LEVEL": "WARNING",
        "SOURCE_CACHE_SECONDS": "3600",  # the API keeps authenticating sources while PostgreSQL is down
        "STREAM_CLAIM_IDLE_MS": "3000", "STREAM_BLOCK_MS": "200", "RATE_LIMIT_WEBHOOK": "0",
        "INFLUX_DATABASE": "aiops_fault_bench",
    }


async def run(args: argparse.Namespace) -> int:
    require_stores(redis=redis_db_url(args.redis_db))  # PostgreSQL is its own (PrivatePostgres)
    pg = PrivatePostgres()
    env = service_env(args, pg, api_port=free_port())
    redis = Redis.from_url(env["REDIS_URL"])
    logs = Path(tempfile.mkdtemp(prefix="aiops-fault-logs-"))
    services: list[Service] = []

    def start_worker(name: str) -> Service:
        services.append(Service("aiops-worker", {**env, "WORKER_NAME": name}, logs / f"{name}.log").start())
        return services[-1]

    try:
        pg.start()
        subprocess.run([sys.executable, "-m", "aiops_contracts.db.migrate", pg.url], check=True, timeout=120)
        await redis.flushdb()
        services.append(Service("aiops-api", env, logs / "api.log").start())
        url = f"http://127.0.0.1:{env['API_PORT']}"
        await wait_healthy(url, START_TIMEOUT_S)
        return await _measure(Faults(args, pg, redis, start_worker, log), url)
    finally:
        for service in services:
            service.kill()
        await redis.aclose()
        pg.destroy()
        log(f"service logs in {logs}")


async def _measure(faults: Faults, url: str) -> int:
    args, pg = faults.args, faults.pg
    ingest, stop = Ingest(), asyncio.Event()
    sender = asyncio.create_task(send_steadily(url, await create_source(url), args.rate, stop, ingest))
    started = time.monotonic()
    await faults.inflict()
    stop.set()
    await sender
    ingest_s = time.monotonic() - started
    log(f"ingest stopped: {len(ingest.accepted)} events accepted; waiting for the worker to store them")
    counts = await wait_stored(pg, ingest, args.drain_timeout_s)
    lost = len(ingest.fingerprints) - len(counts)
    duplicated = sum(1 for count in counts.values() if count != 1)
    print(f"kills={args.kills} pg_outage_s={args.pg_outage_s} ingest_s={ingest_s:.0f} "
          f"rate={len(ingest.accepted) / ingest_s:.0f}/s")
    print(f"accepted={len(ingest.accepted)} stored={len(counts)} lost={lost} duplicated={duplicated} "
          f"refused_requests={dict(sorted(ingest.refused.items()))}")
    return 1 if lost or duplicated else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="kill -9 and restart the worker this many times")
    parser.add_argument("--kill-interval-s", type=float, default=4.0)
    parser.add_argument("--pg-outage-s", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=400.0, help="events per second sent")
    parser.add_argument("--drain-timeout-s", type=float, default=180.0)
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database index this run owns (flushed)")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
