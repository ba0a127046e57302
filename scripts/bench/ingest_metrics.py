"""Metrics ingest benchmark: Telegraf line protocol through one API process into the stream, through the
metrics writer into InfluxDB, and end to end, side by side with InfluxDB's own /write of the same payload.

Prints metrics/s (one metric = one line) for:
  influxdb_direct  the same lines POSTed straight to InfluxDB's /write, at its best batch size and concurrency
                   (found by trying each of DIRECT_SETTINGS once), the median of --rounds runs at that setting
  api_ingest       POST /webhooks/telegraf: parsed, validated, stamped and in the stream (one uvicorn process)
  writer_drain     the metrics writer draining that stream into InfluxDB (--writer-replicas processes)
  end_to_end       API and writers running together: from the first POST until every point is in InfluxDB (a
                   writer acks an entry once InfluxDB accepted its points: until every entry is acked), the
                   median of --rounds runs, each right after one of influxdb_direct's
and, for each phase, the CPU each part spent per line (µs): the bench's client, the API, the writers, InfluxDB
and Redis (the processes listening on the stores' ports when they run here; other users of them count too).
On one machine every part shares the cores InfluxDB alone uses in influxdb_direct: end to end can reach at most
cores / (the parts' µs per line together).

    .venv/bin/python scripts/bench/ingest_metrics.py --metrics 300000 --batch 5000 --connections 4 --writer-replicas 2
Targets: api_ingest ≥ 50,000 metrics/s per process; end_to_end ≥ 80 % of influxdb_direct, InfluxDB's rate at its
best batch size and concurrency (DIRECT_SETTINGS), measured in the same run.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from bench_stack import DEFAULT_PORTS, cpu_seconds, free_port, redis_db_url, require_stores, wait_healthy, wait_idle
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from aiops_api.auth.tokens import Role, issue_access_token
from aiops_api.settings import ApiSettings
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.settings import CommonSettings
from aiops_contracts.streams import METRICS_INGESTED

BIN = Path(sys.executable).parent
SECRET = "benchmark-secret-0123456789-0123456789"
HOSTS = 500
# InfluxDB's /write is measured at each (lines per request, requests in flight); the best one is the reference.
DIRECT_SETTINGS = [(batch, connections) for batch in (5_000, 10_000, 20_000) for connections in (2, 4, 8)]
TARGET_SHARE = 0.8  # end to end >= 80 % of InfluxDB's best direct rate
# A Telegraf-like mix: (measurement, tags, fields, the field counted to verify nothing was lost)
SHAPES = (
    ("cpu", "cpu=cpu-total", "usage_guest=0,usage_idle={v:.4f},usage_iowait=0.25,usage_system=2.01,usage_user=4.27",
     "usage_idle"),
    ("mem", "", "available=12440285184i,total=16873332736i,used=3791740928i,used_percent={v:.4f}", "used_percent"),
    ("disk", "device=sda1,fstype=ext4,mode=rw,path=/",
     "free=43214938112i,inodes_free=2766571i,total=52576092160i,used=6657245184i,used_percent={v:.4f}", "used_percent"),
    ("net", "interface=eth0", "bytes_recv={i}i,bytes_sent=219063394i,drop_in=0i,err_in=0i,packets_recv=1320542i",
     "bytes_recv"),
    ("system", "", "load1={v:.2f},load15=0.56,load5=0.52,n_cpus=4i,n_users=2i", "load1"),
)


def payload_batches(metrics: int, batch: int) -> list[bytes]:
    """`metrics` lines, each its own series+time (1 s steps back from now), cut into request bodies."""
    now = time.time_ns() // 10**9 * 10**9
    lines = []
    for i in range(metrics):
        step, rest = divmod(i, HOSTS * len(SHAPES))
        host, shape = divmod(rest, len(SHAPES))
        name, tags, fields, _ = SHAPES[shape]
        tag_part = f",{tags}" if tags else ""
        lines.append(f"{name}{tag_part},host=host-{host} {fields.format(v=(i % 97) + 0.5, i=i)} {now - step * 10**9}")
    return ["\n".join(lines[i:i + batch]).encode() for i in range(0, len(lines), batch)]


def bench_client() -> httpx.AsyncClient:
    """The bench's client for everything but the load, made once before any phase: building one costs ~20 ms of CPU
    (its TLS context), which a phase would count as the client's."""
    return httpx.AsyncClient(timeout=120)


async def post_all(url: str, bodies: list[bytes], headers: dict[str, str], connections: int) -> float:
    """POSTs every body with `connections` requests in flight, each connection kept alive; returns the seconds it took.

    The load is sent by hand (HTTP/1.1, a Content-Length body, a Content-Length answer): httpx spends ~1 ms of CPU a
    request, which made the client's share of a phase depend on its body size (0.28 µs/line for 5,000-line bodies,
    0.13 for 20,000), so InfluxDB's best direct setting paid less for its client than the API's batch size did."""
    target = urlsplit(url)
    head = "".join(f"{name}: {value}\r\n" for name, value in {"Host": target.netloc, **headers}.items())
    request_line = f"POST {target.path}{'?' + target.query if target.query else ''} HTTP/1.1\r\n"
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender() -> None:
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        try:
            while not queue.empty():
                body = queue.get_nowait()
                writer.writelines([f"{request_line}{head}Content-Length: {len(body)}\r\n\r\n".encode(), body])
                await answer(reader)
        finally:
            writer.close()
            await writer.wait_closed()

    began = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(connections)))
    return time.perf_counter() - began


async def answer(reader: asyncio.StreamReader) -> None:
    """Reads one HTTP/1.1 answer with a Content-Length (or none: no body); raises unless it is a 2xx."""
    status_line, *header_lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    if "transfer-encoding" in headers:
        raise RuntimeError(f"{status_line}: a chunked answer, which this client does not read")
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    if not status_line.split()[1].startswith("2"):
        raise RuntimeError(f"{status_line}: {body[:300]!r}")


async def influx_count(run: "Run", database: str) -> int:
    statement = "; ".join(f'SELECT count("{field}") FROM "{name}"' for name, _, _, field in SHAPES)
    body = (await run.client.post(f"{run.influx_url}/query", data={"q": statement, "db": database})).json()
    return sum(r["series"][0]["values"][0][1] for r in body["results"] if r.get("series"))


async def influx_statement(run: "Run", statement: str) -> None:
    (await run.client.post(f"{run.influx_url}/query", data={"q": statement})).raise_for_status()


async def stream_drained(redis: Redis, group: str) -> bool:
    groups = await redis.xinfo_groups(METRICS_INGESTED.name)
    mine = [g for g in groups if (g["name"].decode() if isinstance(g["name"], bytes) else g["name"]) == group]
    return bool(mine) and mine[0]["pending"] == 0 and (mine[0].get("lag") or 0) == 0


def listening_processes(url: str) -> list[int]:
    """The ids of this machine's processes listening on the port of `url` (none when the store runs elsewhere)."""
    port = f"{urlsplit(url).port or DEFAULT_PORTS[urlsplit(url).scheme]:04X}"
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state, inode = row.split()[1], row.split()[3], row.split()[9]
            if local.endswith(f":{port}") and state == "0A":  # LISTEN
                sockets.add(f"socket:[{inode}]")
    pids = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and any(os.readlink(fd) in sockets for fd in (process / "fd").iterdir()):
                pids.append(int(process.name))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return pids


class CpuMeter:
    """CPU seconds per part (part -> its processes) over one phase."""

    def __init__(self, parts: dict[str, list[int]]) -> None:
        self.parts = parts
        self.began = self._read()

    def _read(self) -> dict[str, float]:
        return {part: sum(map(cpu_seconds, pids)) for part, pids in self.parts.items()}

    def per_line(self, lines: int, **reported_s: float) -> dict[str, float]:
        """µs of CPU per line for each part over the phase, and for the parts that reported their CPU seconds."""
        ended = self._read()
        used = {**{part: ended[part] - self.began[part] for part in self.parts}, **reported_s}
        return {part: seconds / lines * 1e6 for part, seconds in used.items()}


def writer_names(phase: str, replicas: int) -> list[str]:
    """The writers' consumer names: each end-to-end round's are new to the group (see writers_ready)."""
    return [f"bench-{phase}-writer-{index}" for index in range(replicas)]


def influx_idle(parts: dict[str, list[int]]) -> None:
    """Waits until InfluxDB is idle: after a phase it goes on for seconds (its cache written to disk, compactions,
    dropped databases deleted), which would land on whichever phase comes next."""
    for pid in parts["influxdb"]:
        wait_idle(pid)


def start_writers(env: dict[str, str], names: list[str]) -> list[subprocess.Popen]:
    """A writer process by consumer name, each its own consumer in the writer's group (as scaled-out workers); those
    of the drain phase return once the stream is drained."""
    return [subprocess.Popen([sys.executable, __file__, "--writer", *(["--drain"] if "drain" in name else [])],
                             env={**env, "WORKER_NAME": name}, stdout=subprocess.PIPE, text=True)
            for name in names]


async def writers_ready(redis: Redis, group: str, names: list[str]) -> bool:
    """Whether every writer read the stream once: started, its database made, waiting for entries (a consumer joins
    the group at its first read)."""
    consumers = await redis.xinfo_consumers(METRICS_INGESTED.name, group)
    joined = {c["name"].decode() if isinstance(c["name"], bytes) else c["name"] for c in consumers}
    return joined.issuperset(names)


def writers_report(writers: list[subprocess.Popen]) -> tuple[float, float, float]:
    """(the longest run, the CPU seconds of all, the monotonic time of the last ack) as the writers print them when
    they end, each from its first read."""
    reports = [writer.communicate(timeout=60)[0].split()[-3:] for writer in writers]
    return (max(float(run_s) for run_s, _, _ in reports), sum(float(cpu_s) for _, cpu_s, _ in reports),
            max(float(acked_at) for _, _, acked_at in reports))


async def run_writer(drain: bool) -> None:
    """The metrics writer alone (not the whole worker, whose other tasks would share the CPU)."""
    from aiops_contracts.db.session import make_engine, make_sessionmaker
    from aiops_contracts.influx import InfluxClient
    from aiops_worker.metrics.task import MetricsWriterTask
    from aiops_worker.runtime.context import WorkerContext
    from aiops_worker.settings import WorkerSettings

    began: list[float] = []  # at its first read: seconds, CPU seconds
    acked_at = [0.0]  # time.monotonic() (one clock for every process of the machine) when it last acked a batch

    class Writer(MetricsWriterTask):
        """Counted from its first read of the stream, as a long-running writer: its start took ~55 ms of CPU on a
        slow machine (0.18 µs a line of 300,000): the database made, httpx's imports at its first request, the
        connections."""

        async def _read(self, start: str, block: bool, count: int | None = None,
                        block_ms: int | None = None) -> list[tuple[str, dict[bytes, bytes]]]:
            began[:] = began or [time.perf_counter(), time.process_time()]
            return await super()._read(start, block, count, block_ms)

        async def _ack(self, entry_ids: list[str]) -> None:
            await super()._ack(entry_ids)
            acked_at[0] = time.monotonic()

    settings = WorkerSettings()
    redis, influx, engine = Redis.from_url(settings.redis_url), InfluxClient(settings), make_engine(settings)
    ctx = WorkerContext(settings=settings, redis=redis, sessions=make_sessionmaker(engine), influx=influx)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(15, stop.set)
    await Writer(ctx).run(stop, drain=drain)
    # the run from its first read: seconds, CPU seconds; when it last acked
    print(f"{time.perf_counter() - began[0]:.6f} {time.process_time() - began[1]:.6f} {acked_at[0]:.6f}")
    await influx.aclose()
    await redis.aclose()
    await engine.dispose()


async def wait_for(check, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark phase did not finish")
        await asyncio.sleep(0.05)


async def create_source(url: str) -> str:
    admin = issue_access_token(ApiSettings(jwt_secret=SECRET), "bench", Role.admin)
    async with httpx.AsyncClient(base_url=url) as client:
        created = await client.post("/api/v1/sources", json={"name": "bench-telegraf", "kind": "telegraf"},
                                    headers={"Authorization": f"Bearer {admin}"})
        created.raise_for_status()
        return created.json()["token"]


# A phase's figures: its rate (metrics/s) and the CPU each part spent per line (µs)
Phase = tuple[float, dict[str, float]]


@dataclass
class Run:
    """What the phases of one run share."""

    args: argparse.Namespace
    client: httpx.AsyncClient
    influx_url: str
    parts: dict[str, list[int]]  # part -> its processes, whose CPU is metered
    bodies: list[bytes]  # the load: request bodies of `--batch` lines


async def phases(run: Run, env: dict[str, str]) -> dict[str, Phase]:
    """InfluxDB's best direct setting found; the API and the writers measured alone; then `--rounds` rounds of
    InfluxDB's direct /write at that setting and our end to end, one after the other, each side's median kept. The
    best of the nine settings' single runs is not the reference: the luckiest of nine noisy runs (InfluxDB's CPU per
    line varies by ±10 % from run to run here) against one run of ours would favour InfluxDB by its noise."""
    metrics = run.args.metrics
    direct_database = f"{env['INFLUX_DATABASE']}_direct"
    batch, connections = await best_direct_setting(run, direct_database)
    api_url = f"http://127.0.0.1:{env['API_PORT']}"
    headers = {"X-AIOps-Token": await create_source(api_url), "Content-Type": "text/plain; charset=utf-8"}
    influx_idle(run.parts)
    meter = CpuMeter(run.parts)
    seconds = await post_all(f"{api_url}/webhooks/telegraf", run.bodies, headers, run.args.connections)
    results = {"api_ingest": (metrics / seconds, meter.per_line(metrics))}
    meter = CpuMeter(run.parts)
    seconds, writer_cpu_s, _ = writers_report(start_writers(env, writer_names("drain", run.args.writer_replicas)))
    results["writer_drain"] = metrics / seconds, meter.per_line(metrics, writers=writer_cpu_s)
    assert await influx_count(run, env["INFLUX_DATABASE"]) == metrics, "the writer lost points"
    await influx_statement(run, f'DROP DATABASE "{env["INFLUX_DATABASE"]}"')
    redis = Redis.from_url(env["REDIS_URL"])
    rounds: list[tuple[Phase, Phase]] = []
    for number in range(run.args.rounds):
        direct = await direct_rate(run, f"{direct_database}_round{number}", batch, connections)
        # A database of its own: points written just after a DROP DATABASE of the same name can vanish
        ours = await end_to_end(run, {**env, "INFLUX_DATABASE": f"{env['INFLUX_DATABASE']}_e2e{number}"}, redis,
                                headers, f"e2e{number}")
        print(f"round {number + 1}: influxdb_direct {direct[0]:>10,.0f}, end_to_end {ours[0]:>10,.0f} metrics/s "
              f"({ours[0] / direct[0]:.0%})", flush=True)
        rounds.append((direct, ours))
    await redis.aclose()
    return {"influxdb_direct": median_phase([direct for direct, _ in rounds]), **results,
            "end_to_end": median_phase([ours for _, ours in rounds])}


def median_phase(phases: list[Phase]) -> Phase:
    """The phase of the median rate (the upper one of an even count)."""
    return sorted(phases, key=lambda phase: phase[0])[len(phases) // 2]


async def end_to_end(run: Run, env: dict[str, str], redis: Redis, headers: dict[str, str], name: str) -> Phase:
    """API and writers (new consumers named after `name`) running together: from the first POST until every point
    is in InfluxDB."""
    from aiops_worker.metrics.task import MetricsWriterTask  # the writer reads in the group named after it

    influx_idle(run.parts)
    names = writer_names(name, run.args.writer_replicas)
    writers = start_writers(env, names)
    # The clock runs once they started (~2.5 s of imports on a slow machine) and made the database
    await wait_for(lambda: writers_ready(redis, MetricsWriterTask.name, names))
    meter = CpuMeter(run.parts)
    began = time.monotonic()
    await post_all(f"http://127.0.0.1:{env['API_PORT']}/webhooks/telegraf", run.bodies, headers, run.args.connections)
    # A writer acks an entry only once InfluxDB accepted its points: the clock stops at the last ack (as the writers
    # report it: polling for it here added up to a poll's interval, 2 % of a 300,000-line run on average), the meter
    # once every entry is seen acked, and the points are counted after, as in the other phases (a count of 300,000
    # points costs InfluxDB ~0.3 µs of CPU per point, and the clock its wall time)
    await wait_for(lambda: stream_drained(redis, MetricsWriterTask.name))
    cpu = meter.per_line(run.args.metrics)
    for writer in writers:
        writer.terminate()
    _, writers_cpu_s, acked_at = writers_report(writers)
    assert await influx_count(run, env["INFLUX_DATABASE"]) == run.args.metrics, "the writers lost points"
    await influx_statement(run, f'DROP DATABASE "{env["INFLUX_DATABASE"]}"')
    return run.args.metrics / (acked_at - began), {**cpu, "writers": writers_cpu_s / run.args.metrics * 1e6}


async def best_direct_setting(run: Run, database_prefix: str) -> tuple[int, int]:
    """InfluxDB's best batch size and concurrency for /write: every one of DIRECT_SETTINGS tried once, on a fresh
    database each, the fastest kept (the target compares us with InfluxDB at its best)."""
    rates = {}
    for batch, connections in DIRECT_SETTINGS:
        rate, cpu = await direct_rate(run, f"{database_prefix}_{batch}_{connections}", batch, connections)
        print(f"influxdb_direct batch={batch:>6} connections={connections}: {rate:>10,.0f} metrics/s, "
              f"InfluxDB {cpu['influxdb']:.2f} µs/line", flush=True)
        rates[batch, connections] = rate
    return max(rates, key=rates.__getitem__)


async def direct_rate(run: Run, database: str, batch: int, connections: int) -> Phase:
    """InfluxDB's own /write rate at one setting, on a fresh database (never one dropped just before: see phases)."""
    await influx_statement(run, f'CREATE DATABASE "{database}"')
    url = f"{run.influx_url}/write?db={database}&precision=ns"
    payload = payload_batches(run.args.metrics, batch)
    influx_idle(run.parts)
    meter = CpuMeter(run.parts)
    rate = run.args.metrics / await post_all(url, payload, {}, connections)
    cpu = meter.per_line(run.args.metrics)
    stored = await influx_count(run, database)
    assert stored == run.args.metrics, f"InfluxDB holds {stored:,} of the {run.args.metrics:,} points written"
    await influx_statement(run, f'DROP DATABASE "{database}"')
    return rate, cpu


async def main(args: argparse.Namespace) -> None:
    common = CommonSettings()
    redis_url = args.redis_url
    require_stores(postgres=common.database_url, redis=redis_url, influx=common.influx_url)
    base = make_url(common.database_url)
    db_url = base.set(database=f"aiops_bench_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    create_database_if_missing(db_url)
    upgrade(db_url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "JWT_SECRET": SECRET,
           "API_PORT": str(port), "LOG_LEVEL": "WARNING", "ENVIRONMENT": "test", "WORKER_METRICS_PORT": "0",
           "MAX_BODY_BYTES": str(64 * 1024 * 1024), "RATE_LIMIT_WEBHOOK": "0",
           "INFLUX_DATABASE": f"aiops_bench_{uuid.uuid4().hex[:8]}",
           **({"STREAM_BATCH_SIZE": str(args.stream_batch)} if args.stream_batch else {})}
    await Redis.from_url(redis_url).flushdb()
    bodies = payload_batches(args.metrics, args.batch)
    api = subprocess.Popen([str(BIN / "aiops-api")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    async with bench_client() as client:
        try:
            await wait_healthy(f"http://127.0.0.1:{port}")
            wait_idle(api.pid)  # it loads the embedding model at start, which would share InfluxDB's cores
            parts = {"client": [os.getpid()], "api": [api.pid], "influxdb": listening_processes(common.influx_url),
                     "redis": listening_processes(redis_url)}
            run = Run(args, client, common.influx_url, parts, bodies)
            results = await phases(run, env)
        finally:
            api.terminate()
            api.wait(30)
            await influx_statement(Run(args, client, common.influx_url, {}, []),
                                   f'DROP DATABASE "{env["INFLUX_DATABASE"]}"')
            drop_database(db_url)
    print(f"metrics={args.metrics} batch={args.batch} lines/request connections={args.connections} "
          f"lines/entry={env.get('METRICS_LINES_PER_EVENT', 1000)} stream_batch={args.stream_batch or 'default'} "
          f"writer_replicas={args.writer_replicas} rounds={args.rounds} (influxdb_direct and end_to_end: medians)")
    print_results(results)


def print_results(results: dict[str, Phase]) -> None:
    """Each phase's rate and CPU µs per line by part, and what the parts' CPU allows on this machine's cores."""
    cores = os.cpu_count() or 1
    parts = sorted({part for _, cpu in results.values() for part in cpu})
    print(f"{'':<16} {'metrics/s':>10}   CPU µs/line: {' '.join(f'{part:>9}' for part in parts)} {'total':>9}"
          f"   {cores} cores allow")
    for name, (rate, cpu) in results.items():
        total = sum(cpu.values())
        allowed = f"{cores / total * 1e6:>10,.0f}/s" if total else ""
        print(f"{name:<16} {rate:>10,.0f}                {' '.join(f'{cpu.get(part, 0):>9.2f}' for part in parts)} "
              f"{total:>9.2f}   {allowed}")
    share = results["end_to_end"][0] / results["influxdb_direct"][0]
    print(f"end_to_end / influxdb_direct at its best setting = {share:.0%} (target >= {TARGET_SHARE:.0%}: "
          f"{'met' if share >= TARGET_SHARE else 'not met'}); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", type=int, default=300_000, help="lines in all")
    parser.add_argument("--batch", type=int, default=5_000, help="lines per request (Telegraf metric_batch_size)")
    parser.add_argument("--connections", type=int, default=4, help="requests in flight")
    parser.add_argument("--stream-batch", type=int, help="STREAM_BATCH_SIZE of the writer (default: the deployment's; "
                        "a metrics read takes at most the stream's max_read entries)")
    parser.add_argument("--writer-replicas", type=int, default=1, help="writer processes (the worker scales out)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of InfluxDB direct at its best setting and end "
                        "to end, one after the other (the medians are compared)")
    parser.add_argument("--redis-url", default=redis_db_url(14), help="a scratch Redis database (FLUSHED)")
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)
    cli = parser.parse_args()
    asyncio.run(run_writer(cli.drain) if cli.writer else main(cli))
