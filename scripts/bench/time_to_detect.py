"""Time to detect under load: fault injected through a real webhook -> its incident visible on `/ws`.

Starts its own API and worker on a throwaway database (and a scratch Redis database), offers a steady
background through the real webhooks (open loop, --rate events/s: 70 % log lines to /webhooks/logs, 25 %
Telegraf points to /webhooks/telegraf, 5 % re-firing alerts of a fixed set to /webhooks/generic), and
after a warm-up injects --faults faults, one every --fault-interval seconds, alternating two kinds:
- `alert`: an Alertmanager alert for a database (`instance` = `fault-N:9187`, `job` = postgres);
- `log`: a burst of postgres FATAL lines from host `fault-N` to /webhooks/logs.
A viewer listens on `/ws`; a fault is detected when the first incident change naming its host arrives.
Prints p50/p95/max per kind and overall, against the target p95 < 2 s.

    .venv/bin/python scripts/bench/time_to_detect.py [--rate 1000] [--faults 30]
Needs PostgreSQL, Redis, InfluxDB (the Telegraf points) and ChromaDB (log embeddings) as configured.
"""

import argparse
import asyncio
import os
import random
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
import websockets
from bench_stack import (
    BIN,
    JWT_SECRET,
    Service,
    free_port,
    log,
    machine_token,
    redis_db_url,
    require_stores,
    wait_healthy,
    wait_idle,
)
from sqlalchemy.engine import make_url

from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.settings import CommonSettings

TICK_S = 0.1  # the background is sent in one request per kind every tick
SHARES = {"logs": 0.70, "metrics": 0.25, "alerts": 0.05}
PATHS = ["/api/items", "/api/cart", "/login", "/static/app.js", "/api/search"]


def background_logs(n: int, rng: random.Random) -> str:
    return "\n".join(f"INFO request served method=GET path={rng.choice(PATHS)}/{rng.randint(1, 9999)} status=200 "
                     f"duration_ms={rng.randint(2, 80)}" for _ in range(n))


def background_metrics(n: int, rng: random.Random) -> str:
    now = time.time_ns()
    return "\n".join(f"cpu,host=bg-{i % 40},service=web usage_idle={80 + rng.random() * 5:.2f} {now - i}"
                     for i in range(n))


def background_alerts(n: int, rng: random.Random) -> list[dict]:
    return [{"title": "Queue depth above 100", "fingerprint": f"bg-queue-{rng.randint(0, 19)}",
             "host": f"bg-{rng.randint(0, 19)}", "severity": "low"} for _ in range(n)]


async def offer_background(client: httpx.AsyncClient, tokens: dict[str, str], rate: float, stop: asyncio.Event,
                           errors: list[str]) -> int:
    """Open loop: one request per kind every TICK_S, whatever the answers take; returns the events offered."""
    rng, sent, pending = random.Random(7), 0, set()
    counts = {kind: max(1, round(rate * share * TICK_S)) for kind, share in SHARES.items()}

    async def post(url: str, token: str, **body) -> None:
        response = await client.post(url, headers={"X-AIOps-Token": token}, **body)
        if response.status_code >= 300:
            errors.append(f"{url}: {response.status_code} {response.text[:200]}")

    began, tick = time.perf_counter(), 0
    while not stop.is_set():
        pending.add(asyncio.create_task(post("/webhooks/logs?host=bg-web&service=nginx", tokens["logs"],
                                             content=background_logs(counts["logs"], rng))))
        pending.add(asyncio.create_task(post("/webhooks/telegraf", tokens["telegraf"],
                                             content=background_metrics(counts["metrics"], rng))))
        pending.add(asyncio.create_task(post("/webhooks/generic", tokens["generic"],
                                             json=background_alerts(counts["alerts"], rng))))
        sent += sum(counts.values())
        pending = {task for task in pending if not task.done()}
        tick += 1
        await asyncio.sleep(max(0.0, began + tick * TICK_S - time.perf_counter()))
    await asyncio.gather(*pending)
    return sent


async def inject(client: httpx.AsyncClient, tokens: dict[str, str], kind: str, host: str) -> float:
    """One fault through its webhook; returns when it was sent (wall clock)."""
    sent_at = time.time()
    if kind == "alert":
        body = {"version": "4", "status": "firing", "receiver": "aiops", "groupKey": host, "alerts": [{
            "status": "firing", "labels": {"alertname": "PostgresDown", "instance": f"{host}:9187", "job": "postgres",
                                           "severity": "critical"},
            "annotations": {"summary": f"postgres on {host} is down"}, "startsAt": _now_iso(),
            "fingerprint": uuid.uuid4().hex[:16]}]}
        response = await client.post("/webhooks/alertmanager", json=body, headers={"X-AIOps-Token": tokens["alertmanager"]})
    else:
        lines = "\n".join(f"FATAL: remaining connection slots are reserved for roles with the SUPERUSER attribute "
                          f"(client {i})" for i in range(3))
        response = await client.post(f"/webhooks/logs?host={host}&service=postgres", content=lines,
                                     headers={"X-AIOps-Token": tokens["logs"]})
    response.raise_for_status()
    return sent_at


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def listen(ws_url: str, seen: dict[str, float], ready: asyncio.Event) -> None:
    """Records when the first incident change naming each host arrived."""
    async with websockets.connect(ws_url, max_size=None) as ws:
        ready.set()
        async for message in ws:
            event = orjson.loads(message)
            if event.get("type", "").startswith("incident."):
                at = time.time()
                for host in event["payload"].get("hosts", []):
                    seen.setdefault(host, at)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def report(name: str, values: list[float]) -> None:
    if values:
        print(f"{name:8} n={len(values):3d}  p50={percentile(values, 50):6.2f} s  p95={percentile(values, 95):6.2f} s"
              f"  max={max(values):6.2f} s")


async def measure(url: str, args: argparse.Namespace) -> None:
    admin = {"Authorization": f"Bearer {machine_token('admin')}"}
    tokens = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for kind in ("logs", "telegraf", "generic", "alertmanager"):
            created = await client.post("/api/v1/sources", json={"name": f"bench-{kind}", "kind": kind}, headers=admin)
            created.raise_for_status()
            tokens[kind] = created.json()["token"]
    seen: dict[str, float] = {}
    ready, stop, errors = asyncio.Event(), asyncio.Event(), []
    listener = asyncio.create_task(listen(f"{url.replace('http', 'ws')}/ws?token={machine_token('viewer')}", seen, ready))
    await asyncio.wait_for(ready.wait(), 30)
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        background = asyncio.create_task(offer_background(client, tokens, args.rate, stop, errors))
        log(f"background at {args.rate:,.0f} events/s; warming up for {args.warmup_s} s")
        await asyncio.sleep(args.warmup_s)
        faults: list[tuple[str, str, float]] = []
        for n in range(args.faults):
            kind, host = ("alert", "log")[n % 2], f"fault-{n}"
            faults.append((kind, host, await inject(client, tokens, kind, host)))
            await asyncio.sleep(args.fault_interval_s)
        deadline = time.monotonic() + args.timeout_s
        while time.monotonic() < deadline and not all(host in seen for _, host, _ in faults):
            await asyncio.sleep(0.1)
        stop.set()
        offered = await background
    listener.cancel()
    took = {kind: [seen[host] - sent for k, host, sent in faults if k == kind and host in seen]
            for kind in ("alert", "log")}
    missed = [host for _, host, _ in faults if host not in seen]
    print(f"background offered: {offered:,} events at {args.rate:,.0f}/s; refused requests: {len(errors)}"
          + (f" (first: {errors[0]})" if errors else ""))
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other processes share the machine)")
    print("time to detect (webhook sent -> incident on /ws), target p95 < 2 s:")
    report("alert", took["alert"])
    report("log", took["log"])
    report("all", took["alert"] + took["log"])
    print("in order of injection (s): " + " ".join(f"{seen[host] - sent:.1f}" if host in seen else "-"
                                                  for _, host, sent in faults))
    if missed:
        print(f"not detected within {args.timeout_s} s: {', '.join(missed)}")


async def main(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    redis_url = redis_db_url(args.redis_db)
    require_stores(postgres=settings.database_url, redis=redis_url, influx=settings.influx_url,
                   chroma=settings.chroma_url)
    db_url = make_url(settings.database_url).set(database=f"aiops_ttd_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False)
    create_database_if_missing(db_url)
    upgrade(db_url)
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "JWT_SECRET": JWT_SECRET,
           "API_PORT": str(free_port()), "LOG_LEVEL": "WARNING", "WORKER_METRICS_PORT": "0", "ENVIRONMENT": "test",
           "RATE_LIMIT_WEBHOOK": "0", "INFLUX_DATABASE": "aiops_ttd_bench"}
    subprocess.run([str(BIN / "python"), "-c", f"import redis; redis.Redis.from_url('{redis_url}').flushdb()"], check=True)
    logs = Path(tempfile.mkdtemp(prefix="aiops-ttd-"))
    services = [Service(name, env, logs / f"{name}.log").start() for name in ("aiops-api", "aiops-worker")]
    try:
        url = f"http://127.0.0.1:{env['API_PORT']}"
        await wait_healthy(url)
        for service in services:
            wait_idle(service.process.pid)
        await measure(url, args)
    finally:
        for service in services:
            service.process.terminate()
            service.process.wait(30)
        drop_database(db_url)
        log(f"service logs in {logs}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000, help="background events per second")
    parser.add_argument("--faults", type=int, default=30)
    parser.add_argument("--fault-interval-s", type=float, default=2.0)
    parser.add_argument("--warmup-s", type=float, default=15.0)
    parser.add_argument("--timeout-s", type=float, default=60.0, help="how long to wait for the last detection")
    parser.add_argument("--redis-db", type=int, default=13, help="a scratch Redis database the benchmark flushes")
    asyncio.run(main(parser.parse_args()))
