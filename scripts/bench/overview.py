"""Latency of the dashboard's overview (GET /api/v1/overview) with 10,000 alerts stored.

Starts its own API process on a throwaway database seeded with --alerts alerts over the last 24 h (20
sources, one accepted alert event each plus repeats, in the processed-events ledger), --incidents
incidents and a day of log counts. Prints the first request's latency (the dashboard's first load),
then p50/p95 of --requests sequential requests.

    .venv/bin/python scripts/bench/overview.py [--alerts 10000] [--incidents 500] [--requests 50]
Target: first load under 2 s on this machine.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from bench_stack import JWT_SECRET, Service, free_port, log, machine_token, require_stores, wait_healthy, wait_idle
from psycopg.types.json import Jsonb

from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.db.processed import ALERT_STORE_HANDLER
from aiops_contracts.settings import CommonSettings
from aiops_contracts.topology import host_name

SEVERITIES = ["critical", "high", "medium", "low", "info"]
DAY_S = 86_400


def seed(database_url: str, alerts: int, incidents: int) -> None:
    now = datetime.now(UTC)
    at = [now - timedelta(seconds=i * DAY_S / alerts) for i in range(alerts)]
    alert_rows = [(uuid.uuid4(), f"source-{i % 20}", uuid.uuid4().hex, f"alert {i}", SEVERITIES[i % 5], "firing",
                   f"host-{i % 50}", host_name(f"host-{i % 50}"), Jsonb({}), at[i], at[i], uuid.uuid4().hex)
                  for i in range(alerts)]
    events = [(uuid.uuid4().hex, ALERT_STORE_HANDLER, at[i // 3]) for i in range(alerts * 3)]  # 3 events per alert
    incident_rows = [(uuid.uuid4(), f"alert:host:host-{i}", f"incident {i}", SEVERITIES[i % 5],
                      "resolved" if i % 3 else "open", Jsonb([f"host-{i % 50}"]), Jsonb([]), Jsonb({}),
                      now - timedelta(minutes=i), now - timedelta(minutes=i)) for i in range(incidents)]
    counts = [("t1", now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h), 1_000) for h in range(24)]
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO alerts (id, source, fingerprint, title, description, severity, status, host,"
                        " host_name, labels, annotations, details, count, first_seen_at, last_seen_at, last_event_id)"
                        " VALUES (%s, %s, %s, %s, '', %s, %s, %s, %s, %s, '{}', '{}', 3, %s, %s, %s)", alert_rows)
        cur.executemany("INSERT INTO processed_events (event_id, handler, handled_at) VALUES (%s, %s, %s)", events)
        cur.executemany("INSERT INTO incidents (id, group_key, title, summary, severity, status, event_count, hosts,"
                        " services, details, first_seen_at, last_seen_at) VALUES (%s, %s, %s, '', %s, %s, 1, %s, %s,"
                        " %s, %s, %s)", incident_rows)
        cur.execute("INSERT INTO log_templates (id, template, severity, sample, count, first_seen_at, last_seen_at)"
                    " VALUES ('t1', 'disk <*> full', 'high', '', 24000, %s, %s)", (now, now))
        cur.executemany("INSERT INTO log_template_counts (template_id, bucket_start, count) VALUES (%s, %s, %s)",
                        counts)
        cur.execute("ANALYZE")


async def measure(url: str, requests: int) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {machine_token('viewer')}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        async def timed() -> float:
            started = time.perf_counter()
            response = await client.get("/api/v1/overview")
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            return elapsed

        first = await timed()
        return first, [await timed() for _ in range(requests)]


async def run(args: argparse.Namespace) -> None:
    base = CommonSettings(database_url=os.environ.get("DATABASE_URL", CommonSettings().database_url))
    require_stores(postgres=base.database_url, redis=base.redis_url)
    database_url = base.database_url.rsplit("/", 1)[0] + f"/aiops_bench_{uuid.uuid4().hex[:8]}"
    create_database_if_missing(database_url)
    api = None
    try:
        upgrade(database_url)
        seed(database_url, args.alerts, args.incidents)
        port = free_port()
        env = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET,
               "API_PORT": str(port), "LOG_LEVEL": "WARNING"}
        api = Service("aiops-api", env, Path(tempfile.mkdtemp(prefix="aiops-overview-")) / "api.log").start()
        await wait_healthy(f"http://127.0.0.1:{port}")
        wait_idle(api.process.pid)
        log(f"{args.alerts} alerts ({args.alerts * 3} alert events) and {args.incidents} incidents seeded")
        first, latencies = await measure(f"http://127.0.0.1:{port}", args.requests)
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print(f"first load {first * 1000:.0f} ms; {args.requests} requests: p50={q[49] * 1000:.1f} ms "
              f"p95={q[94] * 1000:.1f} ms max={max(latencies) * 1000:.1f} ms")
    finally:
        if api:
            api.kill()
        drop_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--requests", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
