"""Load benchmark of the read API: N concurrent users (default 100) browsing alerts and incidents.

Starts its own API process on a throwaway database seeded with alerts and incidents, then runs N users
for --duration-s seconds. Each user repeats: one read (the alert list, a filtered list, the next page, one
alert, the incident list), then a think time of --think-s on average (0 = as fast as it can, which measures
saturation instead of a user population). Prints requests, errors and p50/p95/p99 latency.

    .venv/bin/python scripts/bench/load_read_api.py [--users 100] [--duration-s 30] [--think-s 1.0]
Target on a 2-core machine: p95 < 50 ms at 100 users.
"""

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psycopg
from bench_stack import JWT_SECRET, Service, free_port, log, machine_token, require_stores, wait_healthy, wait_idle
from psycopg.types.json import Jsonb

from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.settings import CommonSettings

SEVERITIES = ["critical", "high", "medium", "low", "info"]


def seed(database_url: str, alerts: int, incidents: int) -> list[str]:
    """Inserts alerts and incidents; returns the alert ids."""
    now = datetime.now(UTC)
    alert_rows = [(uuid.uuid4(), "bench", uuid.uuid4().hex, f"alert {i}", "", SEVERITIES[i % 5], "firing",
                   f"host-{i % 50}", f"svc-{i % 10}", Jsonb({"env": "prod"}), Jsonb({}), Jsonb({}), 1,
                   now - timedelta(seconds=i), now - timedelta(seconds=i), uuid.uuid4().hex) for i in range(alerts)]
    incident_rows = [(uuid.uuid4(), f"group-{i}", f"incident {i}", "", SEVERITIES[i % 5], "open", 1, Jsonb([]),
                      Jsonb([]), Jsonb({}), now - timedelta(minutes=i), now - timedelta(minutes=i))
                     for i in range(incidents)]
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO alerts (id, source, fingerprint, title, description, severity, status, host, service, labels,"
            " annotations, details, count, first_seen_at, last_seen_at, last_event_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", alert_rows)
        cur.executemany(
            "INSERT INTO incidents (id, group_key, title, summary, severity, status, event_count, hosts, services,"
            " details, first_seen_at, last_seen_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            incident_rows)
    return [str(row[0]) for row in alert_rows]


def pick_request(alert_ids: list[str], next_cursor: str | None) -> tuple[str, dict[str, str]]:
    roll = random.random()
    if roll < 0.35:
        return "/api/v1/alerts", {"limit": "50"}
    if roll < 0.55:
        return "/api/v1/alerts", {"severity": random.choice(SEVERITIES), "host": f"host-{random.randrange(50)}"}
    if roll < 0.7 and next_cursor:
        return "/api/v1/alerts", {"limit": "50", "cursor": next_cursor}
    if roll < 0.9:
        return f"/api/v1/alerts/{random.choice(alert_ids)}", {}
    return "/api/v1/incidents", {"limit": "50"}


def _kind(path: str, params: dict[str, str]) -> str:
    """The request's kind, for the per-kind latency lines."""
    if path.startswith("/api/v1/alerts/"):
        return "one alert"
    if "cursor" in params:
        return "alerts, next page"
    return "alerts, filtered" if "severity" in params else path


async def user(session: aiohttp.ClientSession, args: argparse.Namespace, alert_ids: list[str],
               deadline: float, results: dict[str, list]) -> None:
    cursor = None
    await asyncio.sleep(random.uniform(0, args.think_s))  # users arrive spread out, not in one burst
    while time.monotonic() < deadline:
        path, params = pick_request(alert_ids, cursor)
        started = time.perf_counter()
        async with session.get(path, params=params) as response:
            body = await response.json()
            elapsed = time.perf_counter() - started
        if response.status != 200:
            results["errors"].append(response.status)
        results["latency"].append(elapsed)
        results.setdefault(_kind(path, params), []).append(elapsed)
        cursor = body.get("next_cursor", cursor) if isinstance(body, dict) else cursor
        if args.think_s:
            await asyncio.sleep(random.uniform(0.5, 1.5) * args.think_s)


async def load(url: str, args: argparse.Namespace, alert_ids: list[str]) -> dict[str, list]:
    results: dict[str, list] = {"latency": [], "errors": []}
    headers = {"Authorization": f"Bearer {machine_token('viewer')}"}
    connector = aiohttp.TCPConnector(limit=args.users)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as session:
        for _ in range(20):  # warm up connections and caches
            await session.get("/api/v1/alerts")
        deadline = time.monotonic() + args.duration_s
        await asyncio.gather(*(user(session, args, alert_ids, deadline, results) for _ in range(args.users)))
    return results


def report(args: argparse.Namespace, results: dict[str, list]) -> None:
    latency = sorted(results["latency"])
    q = statistics.quantiles(latency, n=100, method="inclusive")
    print(f"users={args.users} think_s={args.think_s} duration_s={args.duration_s} requests={len(latency)} "
          f"rate={len(latency) / args.duration_s:.0f}/s errors={len(results['errors'])}")
    print(f"p50={q[49] * 1000:.1f}ms p95={q[94] * 1000:.1f}ms p99={q[98] * 1000:.1f}ms max={latency[-1] * 1000:.1f}ms")
    for kind, values in sorted(results.items()):
        if kind not in ("latency", "errors") and len(values) > 1:
            q = statistics.quantiles(values, n=100, method="inclusive")
            print(f"  {kind:24s} n={len(values):5d} p50={q[49] * 1000:.1f}ms p95={q[94] * 1000:.1f}ms")


async def run(args: argparse.Namespace) -> None:
    base = CommonSettings(database_url=os.environ.get("DATABASE_URL", CommonSettings().database_url))
    require_stores(postgres=base.database_url, redis=base.redis_url)
    database_url = base.database_url.rsplit("/", 1)[0] + f"/aiops_bench_{uuid.uuid4().hex[:8]}"
    create_database_if_missing(database_url)
    api = None
    try:
        upgrade(database_url)
        alert_ids = seed(database_url, args.alerts, args.incidents)
        port = free_port()
        env = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET,
               "API_PORT": str(port), "LOG_LEVEL": "WARNING",
               "RATE_LIMIT_READ": "10000000"}  # limiter on (its cost is measured) but never reached from one IP
        api = Service("aiops-api", env, Path(tempfile.mkdtemp(prefix="aiops-load-")) / "api.log").start()
        await wait_healthy(f"http://127.0.0.1:{port}")
        wait_idle(api.process.pid)
        log(f"{args.alerts} alerts and {args.incidents} incidents seeded; {args.users} users for {args.duration_s} s")
        report(args, await load(f"http://127.0.0.1:{port}", args, alert_ids))
    finally:
        if api:
            api.kill()
        drop_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--think-s", type=float, default=1.0, help="mean pause between a user's requests")
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--incidents", type=int, default=1_000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
