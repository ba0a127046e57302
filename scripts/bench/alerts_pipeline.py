"""End-to-end alert pipeline benchmark: webhook → stream → worker → PostgreSQL.

Starts its own API and worker processes (--api-replicas, --worker-replicas) on a throwaway database, sends
N alerts to POST /webhooks/generic at a fixed offered rate (open loop, in batches, spread over the API
replicas as a load balancer would), and prints events/s and the p50/p95/p99 latency from the moment a
batch was sent to the moment its rows were committed (PostgreSQL's `created_at`), each beside its target.

    .venv/bin/python scripts/bench/alerts_pipeline.py --events 30000 --rate 3500 --batch 50 \
        --api-replicas 2 --worker-replicas 2
Target on a 2-core machine: ≥ 3,000 events/s end to end, p95 < 1 s.
"""

import argparse
import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
from bench_stack import (
    BIN,
    JWT_SECRET,
    Service,
    cpu_seconds,
    free_port,
    redis_db_url,
    require_stores,
    wait_healthy,
    wait_idle,
)
from sqlalchemy.engine import make_url

from aiops_api.auth.tokens import Role, issue_access_token
from aiops_api.settings import ApiSettings
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.settings import CommonSettings

TARGET_RATE, TARGET_P95_MS = 3_000, 1_000


async def send_all(urls: list[str], token: str, args: argparse.Namespace) -> dict[str, float]:
    """Offers `rate` events/s in batches, round robin over the API replicas; returns each alert's send time
    by its fingerprint."""
    sent: dict[str, float] = {}
    interval = args.batch / args.rate
    limits = httpx.Limits(max_connections=args.connections)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, limits=limits, timeout=30))
                   for url in urls]

        async def post(start_index: int) -> None:
            client = clients[start_index // args.batch % len(clients)]
            batch = [{"title": f"bench {i}", "fingerprint": f"fp-{i}", "host": f"host-{i % 50}"}
                     for i in range(start_index, start_index + args.batch)]
            sent_at = time.time()
            response = await client.post("/webhooks/generic", json=batch, headers={"X-AIOps-Token": token})
            response.raise_for_status()
            for item in batch:
                sent[item["fingerprint"]] = sent_at

        began = time.perf_counter()
        tasks = []
        for n, start_index in enumerate(range(0, args.events, args.batch)):
            delay = began + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(start_index)))
        await asyncio.gather(*tasks)
    return sent


def wait_stored(dsn: str, expected: int, timeout_s: float) -> list[tuple[str, datetime]]:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(dsn) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM alerts").fetchone()[0] >= expected:
                return conn.execute("SELECT fingerprint, created_at FROM alerts").fetchall()
            time.sleep(0.2)
    raise TimeoutError("not every event was stored in time")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    redis_url = args.redis_url
    require_stores(postgres=CommonSettings().database_url, redis=redis_url)
    base = make_url(CommonSettings().database_url)
    db_url = base.set(database=f"aiops_bench_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    create_database_if_missing(db_url)
    upgrade(db_url)
    ports = [free_port() for _ in range(args.api_replicas)]
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "JWT_SECRET": JWT_SECRET,
           "LOG_LEVEL": "WARNING", "WORKER_METRICS_PORT": "0", "ENVIRONMENT": "test",
           "MAX_BODY_BYTES": str(50 * 1024 * 1024)}
    subprocess.run([str(BIN / "python"), "-c", f"import redis; redis.Redis.from_url('{redis_url}').flushdb()"], check=True)
    logs = Path(tempfile.mkdtemp(prefix="aiops-bench-"))
    processes = [Service("aiops-api", {**env, "API_PORT": str(port)}, logs / f"api-{port}.log").start()
                 for port in ports]
    # One worker runs every task, the others only the ones that scale out (the alert store among them).
    processes += [Service("aiops-worker", {**env, "WORKER_ROLE": "scaled" if n else "all"}, logs / f"worker-{n}.log").start()
                  for n in range(args.worker_replicas)]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        url = urls[0]
        for each in urls:
            await wait_healthy(each)
        admin = issue_access_token(ApiSettings(jwt_secret=JWT_SECRET), "bench", Role.admin)
        async with httpx.AsyncClient(base_url=url) as client:
            created = await client.post("/api/v1/sources", json={"name": "bench", "kind": "generic"},
                                        headers={"Authorization": f"Bearer {admin}"})
            token = created.json()["token"]
        for service in processes:
            wait_idle(service.process.pid)
        cpu_before = [cpu_seconds(service.process.pid) for service in processes]
        began = time.time()
        sent = await send_all(urls, token, args)
        accepted_s = time.time() - began
        rows = wait_stored(db_url.replace("+psycopg", ""), args.events, timeout_s=300)
        cpu = [cpu_seconds(service.process.pid) - before for service, before in zip(processes, cpu_before, strict=True)]
        latencies = [stored.timestamp() - sent[fp] for fp, stored in rows]
        elapsed = max(stored.timestamp() for _, stored in rows) - began
        print(f"events={args.events} offered_rate={args.rate}/s batch={args.batch} api_replicas={args.api_replicas} "
              f"worker_replicas={args.worker_replicas} load average={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"api_accepted={args.events / accepted_s:,.0f} events/s (all {args.events} accepted in {accepted_s:.1f} s)")
        print(f"throughput_end_to_end={args.events / elapsed:,.0f} events/s (target >= {TARGET_RATE:,})")
        p50, p95, p99, worst = (1000 * percentile(latencies, p) for p in (50, 95, 99, 100))
        print(f"latency_ms p50={p50:.0f} p95={p95:.0f} (target < {TARGET_P95_MS}) p99={p99:.0f} max={worst:.0f}")
        # CPU per event, which a busy machine does not change much: with the stores' share it says how many events a
        # second 2 cores can take at best (the API's and workers' own share: 2,000 / (api + workers) ms).
        api_ms, worker_ms = (1000 * sum(cpu[i] for i in part) / args.events
                             for part in (range(args.api_replicas), range(args.api_replicas, len(processes))))
        print(f"cpu_ms_per_event api={api_ms:.3f} workers={worker_ms:.3f} (every replica, the worker's other tasks "
              f"included; 2 cores allow at most {2000 / (api_ms + worker_ms):,.0f} events/s before the stores' share)")
    finally:
        for service in processes:
            service.process.terminate()
        for service in processes:
            try:
                service.process.wait(30)
            except subprocess.TimeoutExpired:  # a busy machine: never leave a process behind on the dropped database
                service.kill()
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
