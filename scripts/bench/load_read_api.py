"""Load benchmark of the read API: N concurrent users (default 100) browsing alerts and incidents.

Starts its own API process on a throwaway database seeded with alerts and incidents, then runs N users
for --duration-s seconds. Each user repeats: one read (the alert list, a filtered list, the next page, one
alert, the incident list), then a think time of --think-s on average (0 = as fast as it can, which measures
saturation instead of a user population). Prints requests, errors and p50/p95/p99 latency.

    .venv/bin/python scripts/bench/load_read_api.py [--users 100] [--duration-s 30] [--think-s 1.0] \
        [--alerts 1000000] [--incidents 100000]
Target on a 2-core machine: p95 < 50 ms, p99 < 150 ms at 100 users, the same at 1k, 100k and 1M alerts.
"""

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psycopg
from bench_stack import (
    JWT_SECRET,
    Service,
    cpu_seconds,
    free_port,
    log,
    machine_token,
    require_stores,
    wait_healthy,
    wait_idle,
)

from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.settings import CommonSettings
from aiops_contracts.topology import host_name

TARGET_P95_MS, TARGET_P99_MS = 50, 150
SEVERITIES = ["critical", "high", "medium", "low", "info"]
ALERT_STATUSES = ["firing"] * 7 + ["acknowledged"] * 2 + ["resolved"]  # 70 % firing, 10 % resolved
SOURCES = ["alertmanager", "grafana", "datadog", "zabbix", "generic"]
HOSTS = 500
# Each host under the three labels alerts give it, with the host name the host filter reads (`host-7`).
HOST_LABELS = [[(label, host_name(label)) for label in (f"host-{n}", f"HOST-{n}", f"host-{n}.prod.example.com")]
               for n in range(HOSTS)]
ALERT_COLUMNS = ("id, source, fingerprint, title, description, severity, status, host, host_name, service, labels,"
                 " annotations, details, count, first_seen_at, last_seen_at, last_event_id, incident_id")
INCIDENT_COLUMNS = ("id, group_key, title, summary, severity, status, event_count, hosts, services, details,"
                    " first_seen_at, last_seen_at")


@dataclass
class Seeded:
    alert_ids: list[str]
    incident_ids: list[str]
    oldest: datetime  # the alerts' last_seen_at span
    newest: datetime


def seed(database_url: str, alerts: int, incidents: int) -> Seeded:
    """COPYs `alerts` alerts (one a second back from now; every other one in an incident) and `incidents`
    incidents, then ANALYZEs: a million alerts take well under a minute."""
    now = datetime.now(UTC)
    incident_ids = [uuid.uuid4() for _ in range(incidents)]
    alert_ids = [uuid.uuid4() for _ in range(alerts)]
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY incidents ({INCIDENT_COLUMNS}) FROM STDIN") as copy:
            for i, incident_id in enumerate(incident_ids):
                at = now - timedelta(seconds=10 * i)
                copy.write_row((incident_id, f"group-{i}", f"incident {i}", "", SEVERITIES[i % 5],
                                ("open", "acknowledged", "resolved")[i % 3], 1, f'["host-{i % HOSTS}"]',
                                '["svc"]', "{}", at, at))
        rng = random.Random(0)  # each field drawn on its own: no filter combination is empty by construction
        with cur.copy(f"COPY alerts ({ALERT_COLUMNS}) FROM STDIN") as copy:
            for i, alert_id in enumerate(alert_ids):
                at = now - timedelta(seconds=i)
                incident = incident_ids[(i // 2) % incidents] if incidents and i % 2 == 0 else None
                copy.write_row((alert_id, rng.choice(SOURCES), alert_id.hex, f"alert {i}", "", rng.choice(SEVERITIES),
                                rng.choice(ALERT_STATUSES), *HOST_LABELS[rng.randrange(HOSTS)][i % 3],
                                f"svc-{rng.randrange(10)}",
                                '{"env": "prod"}', "{}", "{}", 1, at, at, alert_id.hex, incident))
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE alerts")  # planner statistics and the visibility map, as autovacuum would
        cur.execute("VACUUM ANALYZE incidents")
    return Seeded([str(a) for a in alert_ids], [str(i) for i in incident_ids],
                  now - timedelta(seconds=max(alerts, 1)), now)


def pick_request(seeded: Seeded, next_cursor: str | None) -> tuple[str, dict[str, str]]:
    """The dashboard's reads: the alert list, its filters (severity, status, source, host, time range,
    incident), the next page, one alert, the incident list."""
    roll = random.random()
    if roll < 0.25:
        return "/api/v1/alerts", {"limit": "50"}
    if roll < 0.35:
        return "/api/v1/alerts", {"severity": random.choice(SEVERITIES), "host": f"host-{random.randrange(HOSTS)}"}
    if roll < 0.45:
        return "/api/v1/alerts", {"status": random.choice(["acknowledged", "resolved"]),
                                  "source": random.choice(SOURCES)}
    if roll < 0.5:
        until = seeded.oldest + (datetime.now(UTC) - seeded.oldest) * random.random()
        return "/api/v1/alerts", {"until": until.isoformat(), "since": (until - timedelta(hours=1)).isoformat()}
    if roll < 0.6 and next_cursor:
        return "/api/v1/alerts", {"limit": "50", "cursor": next_cursor}
    if roll < 0.8:
        return f"/api/v1/alerts/{random.choice(seeded.alert_ids)}", {}
    if roll < 0.9 and seeded.incident_ids:
        return f"/api/v1/incidents/{random.choice(seeded.incident_ids)}/alerts", {}
    return "/api/v1/incidents", {"limit": "50"}


def _kind(path: str, params: dict[str, str]) -> str:
    """The request's kind, for the per-kind latency lines."""
    if path.startswith("/api/v1/alerts/"):
        return "one alert"
    if path.startswith("/api/v1/incidents/"):
        return "alerts of an incident"
    if "cursor" in params:
        return "alerts, next page"
    return f"alerts by {'+'.join(sorted(params))}" if set(params) - {"limit"} else path


async def user(session: aiohttp.ClientSession, args: argparse.Namespace, seeded: Seeded,
               deadline: float, results: dict[str, list]) -> None:
    cursor = None
    await asyncio.sleep(random.uniform(0, args.think_s))  # users arrive spread out, not in one burst
    while time.monotonic() < deadline:
        path, params = pick_request(seeded, cursor)
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


async def load(url: str, args: argparse.Namespace, seeded: Seeded) -> dict[str, list]:
    results: dict[str, list] = {"latency": [], "errors": []}
    headers = {"Authorization": f"Bearer {machine_token('viewer')}"}
    connector = aiohttp.TCPConnector(limit=args.users)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as session:
        for _ in range(20):  # warm up connections and caches
            await session.get("/api/v1/alerts")
        deadline = time.monotonic() + args.duration_s
        await asyncio.gather(*(user(session, args, seeded, deadline, results) for _ in range(args.users)))
    return results


def report(args: argparse.Namespace, results: dict[str, list]) -> None:
    latency = sorted(results["latency"])
    q = statistics.quantiles(latency, n=100, method="inclusive")
    print(f"alerts={args.alerts} incidents={args.incidents} users={args.users} think_s={args.think_s} "
          f"duration_s={args.duration_s} requests={len(latency)} rate={len(latency) / args.duration_s:.0f}/s "
          f"errors={len(results['errors'])} load average={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"p50={q[49] * 1000:.1f}ms  p95={q[94] * 1000:.1f}ms (target < {TARGET_P95_MS} ms)  "
          f"p99={q[98] * 1000:.1f}ms (target < {TARGET_P99_MS} ms)  max={latency[-1] * 1000:.1f}ms")
    # The API's CPU time per request (warm-up included, 20 requests): what bounds its rate on a busy machine.
    print(f"API CPU per request: {results['api_cpu_s'][0] * 1000 / (len(latency) + 20):.2f} ms")
    # The users run in this process: past a core's worth, its own queueing would show up as the API's latency.
    print(f"load generator CPU: {results['load_generator_cpu_s'][0] / args.duration_s:.0%} of one core")
    for kind, values in sorted(results.items()):
        if kind not in ("latency", "errors", "api_cpu_s", "load_generator_cpu_s") and len(values) > 1:
            q = statistics.quantiles(values, n=100, method="inclusive")
            print(f"  {kind:32s} n={len(values):5d} p50={q[49] * 1000:.1f}ms p95={q[94] * 1000:.1f}ms")


async def run(args: argparse.Namespace) -> None:
    base = CommonSettings(database_url=os.environ.get("DATABASE_URL", CommonSettings().database_url))
    require_stores(postgres=base.database_url, redis=base.redis_url)
    database_url = base.database_url.rsplit("/", 1)[0] + f"/aiops_bench_{uuid.uuid4().hex[:8]}"
    create_database_if_missing(database_url)
    api = None
    try:
        upgrade(database_url)
        started = time.monotonic()
        seeded = seed(database_url, args.alerts, args.incidents)
        log(f"seeded in {time.monotonic() - started:.0f} s")
        port = free_port()
        env = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET,
               "API_PORT": str(port), "LOG_LEVEL": "WARNING",
               "RATE_LIMIT_READ": "10000000"}  # limiter on (its cost is measured) but never reached from one IP
        api = Service("aiops-api", env, Path(tempfile.mkdtemp(prefix="aiops-load-")) / "api.log").start()
        await wait_healthy(f"http://127.0.0.1:{port}")
        wait_idle(api.process.pid)
        log(f"{args.alerts} alerts and {args.incidents} incidents seeded; {args.users} users for {args.duration_s} s")
        gc.freeze()  # the seeded ids and this process's imports: no full collection stalls the users' loop
        cpu_before, own_cpu_before = cpu_seconds(api.process.pid), time.process_time()
        results = await load(f"http://127.0.0.1:{port}", args, seeded)
        results["api_cpu_s"] = [cpu_seconds(api.process.pid) - cpu_before]
        results["load_generator_cpu_s"] = [time.process_time() - own_cpu_before]
        report(args, results)
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
