"""SNMP polling capacity of one worker: how many devices its producer manager polls at a fixed interval, and the
CPU that costs, apart from the simulated devices' own.

The devices are a real agent (Debian's snmpd, tests/fakes/snmp_agent.py) listening on many loopback ports;
N SNMP sources (v2c, interfaces and host resources on: one GET and GETBULK walks per poll) spread over
them are written to a throwaway database. A child process runs only the ProducerManager, as a worker does
(leases, schedule, timeouts, publishing to Redis, health). Once it holds every source's lease, after one
interval of warm-up (the first polls are spread over it) the benchmark measures one more interval: the devices
polled successfully within it (on time), the poller process's CPU time (and snmpd's, reported apart) and the
machine's load. About 2.5 minutes at a 60 s interval.

    .venv/bin/python scripts/bench/snmp_poll.py --devices 2000 --interval 60 --ports 100
Target: ≥ 2,000 devices at a 60 s interval on one worker.
"""

import argparse
import asyncio
import importlib.util
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_stack import cpu_seconds, log, redis_db_url, require_stores
from redis import Redis
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import make_url

from aiops_contracts.db import Source
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.secrets import SecretBox
from aiops_contracts.settings import CommonSettings
from aiops_contracts.streams import POLLER_HEALTH_KEY, POLLER_LEASE_KEY

ROOT = Path(__file__).resolve().parents[2]
TARGET_DEVICES, TARGET_INTERVAL_S = 2000, 60.0


def snmp_agent_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("snmp_agent", ROOT / "tests/fakes/snmp_agent.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_sources(database_url: str, args: argparse.Namespace, ports: list[int], community: str, key: str) -> None:
    sealed = SecretBox(key).seal(community)
    rows = [{"id": uuid.uuid4(), "name": f"device-{n:05d}", "kind": "snmp", "target": "127.0.0.1",
             "interval_s": args.interval, "enabled": True, "credentials": {"community": sealed}, "labels": {},
             "config": {"port": ports[n % len(ports)], "request_timeout_s": 2.0, "retries": 1, "timeout_s": 20.0}}
            for n in range(args.devices)]
    engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.execute(insert(Source), rows)
    engine.dispose()


def run_poller() -> None:
    """The child: a worker that runs only the producer manager."""
    from redis.asyncio import Redis as AsyncRedis

    from aiops_contracts.db.session import make_engine, make_sessionmaker
    from aiops_contracts.influx import InfluxClient
    from aiops_contracts.logging import configure_logging
    from aiops_worker.producers.manager import ProducerManager
    from aiops_worker.runtime.context import WorkerContext
    from aiops_worker.runtime.supervisor import Supervisor
    from aiops_worker.settings import WorkerSettings

    async def serve() -> None:
        settings = WorkerSettings()
        configure_logging("worker", settings.log_level)
        engine = make_engine(settings)
        ctx = WorkerContext(settings=settings, redis=AsyncRedis.from_url(settings.redis_url),
                            sessions=make_sessionmaker(engine), influx=InfluxClient(settings))
        await Supervisor([ProducerManager(ctx)], asyncio.Event(), 5.0).run()

    asyncio.run(serve())


def health(redis: Redis) -> list[dict[bytes, bytes]]:
    keys = list(redis.scan_iter(CommonSettings().redis_key(POLLER_HEALTH_KEY, "*"), count=1000))
    with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        return pipe.execute()


def wait_for_leases(redis: Redis, devices: int, timeout_s: float = 90.0) -> None:
    """Until the poller holds every source's lease: its pollers start then (its own start-up is not measured)."""
    deadline = time.monotonic() + timeout_s
    while sum(1 for _ in redis.scan_iter(CommonSettings().redis_key(POLLER_LEASE_KEY, "*"), count=1000)) < devices:
        if time.monotonic() > deadline:
            raise SystemExit(f"the poller did not take the {devices} sources within {timeout_s:g} s")
        time.sleep(0.5)


def measure(args: argparse.Namespace, poller: subprocess.Popen, snmpd_pid: int, redis: Redis) -> dict[str, float]:
    wait_for_leases(redis, args.devices)
    log(f"warming up for one interval ({args.interval:g} s): the first polls spread over it")
    time.sleep(args.interval)
    started, cpu0, snmpd0 = time.time(), cpu_seconds(poller.pid), cpu_seconds(snmpd_pid)
    time.sleep(args.interval)
    elapsed = time.time() - started
    cpu, snmpd_cpu = cpu_seconds(poller.pid) - cpu0, cpu_seconds(snmpd_pid) - snmpd0
    records = health(redis)
    polled = sum(1 for h in records if float(h.get(b"last_success_at", 0)) >= started)
    failing = sum(1 for h in records if int(h.get(b"consecutive_failures", 0)) > 0)
    durations = sorted(float(h[b"duration_s"]) for h in records if b"duration_s" in h)
    return {"polled": polled, "failing": failing, "cpu_share": cpu / elapsed, "snmpd_share": snmpd_cpu / elapsed,
            "cpu_ms_per_poll": 1000 * cpu / max(polled, 1),
            "p95_poll_s": durations[int(0.95 * (len(durations) - 1))] if durations else float("nan"),
            "load1": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--ports", type=int, default=100, help="loopback ports snmpd listens on (devices share them)")
    parser.add_argument("--concurrency", type=int, default=50, help="POLLER_MAX_CONCURRENT")
    parser.add_argument("--redis-db", type=int, default=14, help="a scratch Redis database, flushed")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    database_url = make_url(CommonSettings().database_url).set(database=f"aiops_bench_{uuid.uuid4().hex[:8]}")
    url = database_url.render_as_string(hide_password=False)
    redis_url = redis_db_url(args.redis_db)
    require_stores(redis=redis_url, postgres=url)
    create_database_if_missing(url)
    upgrade(url)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    key = secrets.token_hex(32)
    module = snmp_agent_module()
    with tempfile.TemporaryDirectory() as directory:
        agent = module.SnmpAgent(Path(directory) / "snmpd", ports=[module.free_udp_port() for _ in range(args.ports)])
        agent.start()
        poller = None
        try:
            write_sources(url, args, agent.ports, agent.community, key)
            env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRETS_KEY": key,
                   "POLLER_MAX_CONCURRENT": str(args.concurrency), "LOG_LEVEL": "WARNING", "WORKER_NAME": "bench"}
            poller = subprocess.Popen([sys.executable, __file__, "--poller-process"], env=env)
            result = measure(args, poller, agent.process.pid, redis)
        finally:
            if poller is not None:
                poller.terminate()
                poller.wait(30)
            agent.stop()
            redis.flushdb()
            drop_database(url)
    met = result["polled"] >= TARGET_DEVICES and args.interval <= TARGET_INTERVAL_S
    log(f"devices polled on time: {result['polled']}/{args.devices} within one {args.interval:g} s interval "
        f"({result['failing']} failing) -- target >= {TARGET_DEVICES:,} at {TARGET_INTERVAL_S:g} s: "
        f"{'met' if met else 'NOT met'}")
    log(f"poller CPU: {100 * result['cpu_share']:.1f}% of one core ({result['cpu_ms_per_poll']:.1f} ms per poll, "
        f"so one core would poll {1000 / result['cpu_ms_per_poll'] * args.interval:.0f} devices per "
        f"{args.interval:g} s); the simulated devices (snmpd) {100 * result['snmpd_share']:.1f}% apart")
    log(f"p95 poll {result['p95_poll_s']:.3f} s; load average {result['load1']:.2f} on {os.cpu_count()} CPUs "
        f"(at the start: {load_at_start:.2f})")


if __name__ == "__main__":
    if "--poller-process" in sys.argv:
        run_poller()
    else:
        main()
