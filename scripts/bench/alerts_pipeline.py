"""End-to-end alert pipeline benchmark: webhook → stream → worker → PostgreSQL.

Starts its own API and worker processes (--api-replicas, --worker-replicas) on a throwaway database, sends
N alerts to POST /webhooks/generic at a fixed offered rate (open loop, in batches, spread over the API
replicas as a load balancer would), and prints events/s and the p50/p95/p99 latency from the moment a
batch was due to be sent to the moment its rows were committed (PostgreSQL's `created_at`), each beside its
target, then each part's CPU per event: the API, the workers, PostgreSQL, Redis, and the load generator, which
shares the cores (its requests are encoded before the clock starts and sent by scripts/bench/open_loop.py).

    .venv/bin/python scripts/bench/alerts_pipeline.py --events 30000 --rate 3500 --batch 50 \
        --api-replicas 2 --worker-replicas 2
Target on a 2-core machine: ≥ 3,000 events/s end to end, p95 < 1 s.
"""

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psycopg
import redis
from bench_stack import (
    JWT_SECRET,
    Service,
    cpu_seconds,
    free_port,
    redis_db_url,
    require_stores,
    wait_healthy,
    wait_idle,
)
from open_loop import Pool, encode_post, offer
from sqlalchemy.engine import make_url

from aiops_api.auth.tokens import Role, issue_access_token
from aiops_api.settings import ApiSettings
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.settings import CommonSettings

TARGET_RATE, TARGET_P95_MS = 3_000, 1_000
# PostgreSQL's processes that work for every database (the WAL our commits write among it), not for one session.
PG_BACKGROUND = ("checkpointer", "background writer", "walwriter")


def webhook_requests(urls: list[str], token: str, args: argparse.Namespace) -> list[bytes]:
    """Request n: alerts n x batch onwards, fingerprinted fp-<i>, for the replica that gets it (urls[n % replicas])."""
    headers = {"Content-Type": "application/json", "X-AIOps-Token": token}
    bodies = [orjson.dumps([{"title": f"bench {i}", "fingerprint": f"fp-{i}", "host": f"host-{i % 50}"}
                            for i in range(start, min(start + args.batch, args.events))])
              for start in range(0, args.events, args.batch)]
    return [encode_post(urls[n % len(urls)], "/webhooks/generic", headers, body) for n, body in enumerate(bodies)]


def process_cpu(pid: int) -> float:
    """cpu_seconds, or 0 for a process that ended (a PostgreSQL backend may, its CPU then goes uncounted)."""
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


@dataclass
class CpuMeter:
    """CPU seconds of each part over the timed phase: our services by process, PostgreSQL by its backends of the
    bench database and its background processes (read in /proc: the stores must run on this machine), Redis by
    its own INFO (the whole server, other databases' clients included)."""

    services: dict[str, list[int]]
    postgres: psycopg.Connection
    database: str
    redis: redis.Redis

    def read(self) -> dict[str, dict[int | str, float]]:
        """Each part's CPU seconds so far, by process (or by server, or by this process)."""
        rows = self.postgres.execute(
            "SELECT pid, backend_type = ANY(%s) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND (datname = %s OR backend_type = ANY(%s))", [list(PG_BACKGROUND), self.database, list(PG_BACKGROUND)]
        ).fetchall()
        info = self.redis.info("cpu")
        return {**{part: {pid: process_cpu(pid) for pid in pids} for part, pids in self.services.items()},
                "postgres": {pid: process_cpu(pid) for pid, background in rows if not background},
                "postgres background": {pid: process_cpu(pid) for pid, background in rows if background},
                "redis": {"server": info["used_cpu_user"] + info["used_cpu_sys"]},
                "load generator": {"self": time.process_time()}}

    @staticmethod
    def used(began: dict[str, dict[int | str, float]], ended: dict[str, dict[int | str, float]]) -> dict[str, float]:
        """Seconds per part between two readings: a backend started meanwhile counts from 0, one ended meanwhile is
        left out (PostgreSQL's side can only be under-counted)."""
        return {part: sum(seconds - began[part].get(key, 0.0) for key, seconds in readings.items())
                for part, readings in ended.items()}


def wait_stored(conn: psycopg.Connection, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while conn.execute("SELECT count(*) FROM alerts").fetchone()[0] < expected:
        if time.monotonic() > deadline:
            raise TimeoutError("not every event was stored in time")
        time.sleep(0.2)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Result:
    accepted_s: float  # from the first request due to the last one answered
    elapsed_s: float  # from the first request due to the last row committed
    latencies_s: list[float]  # each alert's: its row committed less its request due
    worst_late_s: float
    cpu_s: dict[str, float]  # per part


async def source_token(url: str) -> str:
    admin = issue_access_token(ApiSettings(jwt_secret=JWT_SECRET), "bench", Role.admin)
    async with httpx.AsyncClient(base_url=url) as client:
        created = await client.post("/api/v1/sources", json={"name": "bench", "kind": "generic"},
                                    headers={"Authorization": f"Bearer {admin}"})
        return created.json()["token"]


async def measure(urls: list[str], meter: CpuMeter, args: argparse.Namespace) -> Result:
    requests = webhook_requests(urls, await source_token(urls[0]), args)
    pools = [await Pool.open(url, args.connections) for url in urls]
    try:
        began = meter.read()
        offered = await offer(pools, requests, interval_s=args.batch / args.rate)
        accepted_s = time.time() - offered.due[0]
    finally:
        for pool in pools:
            pool.close()
    wait_stored(meter.postgres, args.events, timeout_s=300)
    cpu = CpuMeter.used(began, meter.read())
    # fp-<i> travelled in request i // batch.
    stored = meter.postgres.execute("SELECT fingerprint, extract(epoch FROM created_at)::float8 FROM alerts").fetchall()
    latencies = [at - offered.due[int(fingerprint[3:]) // args.batch] for fingerprint, at in stored]
    elapsed_s = max(at for _, at in stored) - offered.due[0]
    return Result(accepted_s, elapsed_s, latencies, offered.worst_late_s, cpu)


def report(args: argparse.Namespace, result: Result) -> None:
    print(f"events={args.events} offered_rate={args.rate}/s batch={args.batch} api_replicas={args.api_replicas} "
          f"worker_replicas={args.worker_replicas} load average={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"api_accepted={args.events / result.accepted_s:,.0f} events/s (all {args.events} accepted in "
          f"{result.accepted_s:.1f} s; the load generator at worst {1000 * result.worst_late_s:.0f} ms late on its "
          f"schedule, a free connection waited for included)")
    print(f"throughput_end_to_end={args.events / result.elapsed_s:,.0f} events/s (target >= {TARGET_RATE:,})")
    p50, p95, p99, worst = (1000 * percentile(result.latencies_s, p) for p in (50, 95, 99, 100))
    print(f"latency_ms p50={p50:.0f} p95={p95:.0f} (target < {TARGET_P95_MS}) p99={p99:.0f} max={worst:.0f}")
    # CPU per event, which a busy machine does not change much: the system's parts together say how many events a
    # second 2 cores can take at best.
    ms = {part: 1000 * seconds / args.events for part, seconds in result.cpu_s.items()}
    system = sum(value for part, value in ms.items() if part != "load generator")
    print("cpu_ms_per_event " + " ".join(f"{part.replace(' ', '_')}={value:.3f}" for part, value in ms.items()))
    print(f"  system (all but the load generator) {system:.3f} ms: 2 cores allow at most {2000 / system:,.0f} events/s "
          f"({TARGET_RATE:,}/s needs <= {2000 / TARGET_RATE:.3f}); workers: every replica, their other tasks included; "
          f"postgres: the bench database's backends; postgres_background ({', '.join(PG_BACKGROUND)}) and redis: "
          f"whole servers, other sessions' use included")


async def main(args: argparse.Namespace) -> None:
    redis_url = args.redis_url
    require_stores(postgres=CommonSettings().database_url, redis=redis_url)
    base = make_url(CommonSettings().database_url)
    database = f"aiops_bench_{uuid.uuid4().hex[:8]}"
    db_url = base.set(database=database).render_as_string(hide_password=False)
    create_database_if_missing(db_url)
    upgrade(db_url)
    ports = [free_port() for _ in range(args.api_replicas)]
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "JWT_SECRET": JWT_SECRET,
           "LOG_LEVEL": "WARNING", "WORKER_METRICS_PORT": "0", "ENVIRONMENT": "test",
           "MAX_BODY_BYTES": str(50 * 1024 * 1024)}
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    logs = Path(tempfile.mkdtemp(prefix="aiops-bench-"))
    apis = [Service("aiops-api", {**env, "API_PORT": str(port)}, logs / f"api-{port}.log").start() for port in ports]
    # One worker runs every task, the others only the ones that scale out (the alert store among them).
    workers = [Service("aiops-worker", {**env, "WORKER_ROLE": "scaled" if n else "all"}, logs / f"worker-{n}.log").start()
               for n in range(args.worker_replicas)]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            await wait_healthy(url)
        for service in apis + workers:
            wait_idle(service.process.pid)
        with psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as postgres:
            parts = {"api": [s.process.pid for s in apis], "workers": [s.process.pid for s in workers]}
            report(args, await measure(urls, CpuMeter(parts, postgres, database, store), args))
    finally:
        for service in apis + workers:
            service.process.terminate()
        for service in apis + workers:
            try:
                service.process.wait(30)
            except subprocess.TimeoutExpired:  # a busy machine: never leave a process behind on the dropped database
                service.kill()
        store.close()
        drop_database(db_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=3_500, help="offered events per second")
    parser.add_argument("--batch", type=int, default=50, help="alerts per webhook request")
    parser.add_argument("--connections", type=int, default=16, help="per API replica")
    parser.add_argument("--api-replicas", type=int, default=2, help="API processes, each on its own port")
    parser.add_argument("--worker-replicas", type=int, default=2,
                        help="worker processes: one WORKER_ROLE=all, the others WORKER_ROLE=scaled")
    parser.add_argument("--redis-url", default=redis_db_url(14), help="a scratch Redis database (FLUSHED)")
    asyncio.run(main(parser.parse_args()))
