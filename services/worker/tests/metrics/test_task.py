"""The metrics writer on a real InfluxDB: database and retention policy made at start, idempotent rewrites,
nothing lost across an InfluxDB outage, and points InfluxDB refuses for good dead-lettered."""

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import ENTRY_FIELD, Envelope
from aiops_contracts.events import METRICS_RECEIVED, MetricsPayload
from aiops_contracts.influx import DatabaseNotFound, InfluxClient, InfluxError, InfluxUnavailable, quote_ident
from aiops_contracts.streams import METRICS_INGESTED
from aiops_worker.incidents.learning import runs_on_of_lines
from aiops_worker.metrics import task as metrics_task
from aiops_worker.metrics.task import MetricsWriterTask, write_chunks
from aiops_worker.runtime.consumer import Delivery, StoreUnavailable
from aiops_worker.runtime.context import WorkerContext

HOSTS = 5


def batch_lines(start_ns: int, steps: int, measurement: str = "cpu") -> list[str]:
    """`steps` points per host, 10 s apart, ending before `start_ns`: inside the retention window."""
    return [f"{measurement},host=web-{h} usage_idle={90 + s % 7}.5,procs={s}i {start_ns - s * 10**10}"
            for s in range(steps) for h in range(HOSTS)]


def envelopes(lines: list[str], per_event: int = 40) -> list[Envelope]:
    return [Envelope(type=METRICS_RECEIVED, source="telegraf",
                     payload=MetricsPayload(lines="\n".join(lines[i:i + per_event]),
                                            count=len(lines[i:i + per_event])).model_dump())
            for i in range(0, len(lines), per_event)]


async def point_count(influx: InfluxClient, measurement: str = "cpu") -> int:
    series = await influx.query(f'SELECT count("usage_idle") FROM {quote_ident(measurement)}')
    return series[0].values[0][1] if series else 0


async def pending(bus: Bus) -> int:
    return (await bus.redis.xpending(bus.key(METRICS_INGESTED), MetricsWriterTask.name))["pending"]


@pytest.fixture
async def fresh_ctx(worker_ctx: WorkerContext) -> AsyncIterator[WorkerContext]:
    """A database of the test's own that does not exist yet: the task must create it (and its retention policy)."""
    settings = worker_ctx.settings.model_copy(update={"influx_database": f"{worker_ctx.influx.database}_writer"})
    influx = InfluxClient(settings)
    yield WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions, influx=influx)
    await influx.query(f"DROP DATABASE {quote_ident(influx.database)}")
    await influx.aclose()


def test_chunks_keep_whole_entries() -> None:
    deliveries = [Delivery(str(i), e, MetricsPayload.model_validate(e.payload))
                  for i, e in enumerate(envelopes(batch_lines(10**18, 20), per_event=10))]
    chunks = list(write_chunks(deliveries, max_lines=25))
    assert [body.count(b"\n") + 1 for body in chunks] == [30, 30, 30, 10]


def deliveries_of(lines: list[str], per_event: int) -> list[Delivery[MetricsPayload]]:
    return [Delivery(str(i), e, MetricsPayload.model_validate(e.payload))
            for i, e in enumerate(envelopes(lines, per_event))]


@pytest.mark.parametrize(("lines", "names_one"), [
    ("cpu,host=web-1 usage_idle=1 1\nnginx,host=web-1,app=web active=1i 1", True),
    ("prometheus,job=node,host=web-2 up=1i 1", True),
    ("postgresql,host=db-1,service=postgres numbackends=3i 1", True),
    ("cpu,host=web-1 usage_idle=1,jobs=2i 1\nservice,host=web-1 up=1i 1", False),  # a measurement, no tag
])
def test_only_lines_that_may_name_a_service_are_parsed_for_topology(lines: str, names_one: bool) -> None:
    assert bool(runs_on_of_lines(lines)) is names_one
    assert runs_on_of_lines(lines.encode()) == runs_on_of_lines(lines)  # the bytes the writer reads, as they are


def test_lines_that_are_not_utf8_still_name_their_service() -> None:
    """The points are written before the topology is learned: a stray byte must not fail (and retry) the batch."""
    lines = b"postgresql,host=db-1,service=postgres,db=caf\xe9 numbackends=3i 1"
    assert list(runs_on_of_lines(lines)) == [("postgres", "db-1")]


class RecordingInflux:
    """Answers each /write after a moment, refusing those `refusals` name (by order): counts what is in flight."""

    database = "recorded"

    def __init__(self, refusals: dict[int, Exception] | None = None) -> None:
        self.refusals = refusals or {}
        self.bodies: list[bytes] = []
        self.in_flight = self.most_in_flight = 0

    async def ensure_database(self, retention_days: int) -> None:
        pass

    async def write(self, body: bytes) -> None:
        index = len(self.bodies)
        self.bodies.append(body)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        if index in self.refusals:
            raise self.refusals[index]


def recording_writer(worker_ctx: WorkerContext, influx: RecordingInflux, concurrency: int = 3,
                     **settings_update: int) -> MetricsWriterTask:
    settings = worker_ctx.settings.model_copy(
        update={"influx_write_lines": 10, "influx_write_concurrency": concurrency, **settings_update})
    task = MetricsWriterTask(WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                                           influx=influx))  # type: ignore[arg-type]
    task._database_ready = True
    return task


async def test_a_batch_is_written_several_requests_at_a_time_each_body_built_when_it_goes(
        worker_ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    bodies_sent_when_built: list[int] = []
    influx = RecordingInflux()

    def recorded_chunks(batch: list[Delivery[MetricsPayload]], max_lines: int) -> Iterator[bytes]:
        for body in write_chunks(batch, max_lines):
            bodies_sent_when_built.append(len(influx.bodies))
            yield body

    monkeypatch.setattr(metrics_task, "write_chunks", recorded_chunks)
    await recording_writer(worker_ctx, influx).handle(deliveries_of(batch_lines(10**18, 20), per_event=10))
    assert len(influx.bodies) == 10 and influx.most_in_flight == 3
    assert bodies_sent_when_built == list(range(10))  # none built before the previous one was sent
    assert sorted(line for body in influx.bodies for line in body.decode().split("\n")) == sorted(batch_lines(10**18, 20))


async def test_the_batches_in_flight_share_the_requests_in_flight(worker_ctx: WorkerContext) -> None:
    """The next batch's bodies wait for a free request: never more than influx_write_concurrency in all."""
    influx = RecordingInflux()
    task = recording_writer(worker_ctx, influx)
    await asyncio.gather(task.handle(deliveries_of(batch_lines(10**18, 20), per_event=10)),
                         task.handle(deliveries_of(batch_lines(10**18, 20, "mem"), per_event=10)))
    assert len(influx.bodies) == 20 and influx.most_in_flight == 3


async def test_one_request_at_a_time_writes_in_the_stream_order(bus: Bus, worker_ctx: WorkerContext) -> None:
    """influx_write_concurrency 1 (a source that rewrites its points): one batch at a time too, else the next
    batch's first body would go before this one's second."""
    lines = batch_lines(10**18, 20)
    await bus.publish_many(METRICS_INGESTED, envelopes(lines, per_event=10))
    influx = RecordingInflux()
    await recording_writer(worker_ctx, influx, concurrency=1, stream_batch_size=4).run(asyncio.Event(), drain=True)
    assert len(influx.bodies) == 10 and b"\n".join(influx.bodies) == "\n".join(lines).encode()


async def test_the_lines_reach_influxdb_as_the_bytes_read_from_the_stream(bus: Bus, worker_ctx: WorkerContext) -> None:
    lines = batch_lines(10**18, 4)
    await bus.publish_many(METRICS_INGESTED, envelopes(lines, per_event=10))
    influx = RecordingInflux()
    await recording_writer(worker_ctx, influx, influx_write_lines=100).run(asyncio.Event(), drain=True)
    assert influx.bodies == ["\n".join(lines).encode()]


async def test_lines_of_an_entry_from_before_they_travelled_raw_are_written(bus: Bus, worker_ctx: WorkerContext) -> None:
    """An entry published before the lines had a field of their own holds them as text in its JSON."""
    lines = [f"cpu,host=caf\u00e9 usage_idle={i}.5 {10**18 + i}" for i in range(3)]
    document = envelopes(lines, per_event=3)[0].model_dump(mode="json")
    await bus.redis.xadd(bus.key(METRICS_INGESTED), {ENTRY_FIELD: orjson.dumps(document)})
    influx = RecordingInflux()
    await recording_writer(worker_ctx, influx).run(asyncio.Event(), drain=True)
    assert influx.bodies == ["\n".join(lines).encode()]


@pytest.mark.parametrize(("refusals", "sent", "raised"), [
    ({0: InfluxUnavailable("timed out")}, 1, InfluxUnavailable),  # the batch waits: the rest is not sent
    ({2: InfluxError("field type conflict")}, 3, InfluxError),  # entry by entry: the rest is not sent first
    ({0: DatabaseNotFound("database not found")}, 1, StoreUnavailable),  # created again, then retried
])
async def test_no_write_goes_after_a_failed_one(
        worker_ctx: WorkerContext, refusals: dict[int, Exception], sent: int, raised: type[Exception]) -> None:
    influx = RecordingInflux(refusals)
    task = recording_writer(worker_ctx, influx, concurrency=1)
    with pytest.raises(raised):
        await task.handle(deliveries_of(batch_lines(10**18, 20), per_event=10))
    assert len(influx.bodies) == sent
    assert task._database_ready is (raised is not StoreUnavailable)


@pytest.mark.parametrize(("refusals", "raised", "cause"), [
    ({1: InfluxError("field type conflict"), 2: InfluxUnavailable("503")}, InfluxUnavailable, None),  # waits
    ({0: InfluxUnavailable("503"), 2: DatabaseNotFound("database not found")}, StoreUnavailable, DatabaseNotFound),
])
async def test_a_failed_batch_fails_once_every_request_in_flight_answered(
        worker_ctx: WorkerContext, refusals: dict[int, Exception], raised: type[Exception],
        cause: type[Exception] | None) -> None:
    influx = RecordingInflux(refusals)
    task = recording_writer(worker_ctx, influx)
    with pytest.raises(raised) as failure:
        await task.handle(deliveries_of(batch_lines(10**18, 20), per_event=10))
    assert 3 <= len(influx.bodies) < 10 and influx.in_flight == 0
    assert (type(failure.value.__cause__) if cause else None) is cause


@pytest.mark.parametrize(("steps", "lingers"), [
    (1, True),  # 5 lines: the next /write is larger for the wait
    (4, False),  # 20 lines, a full /write (10 here): waiting gains nothing
])
def test_the_writer_lingers_only_with_less_than_a_full_write(worker_ctx: WorkerContext, steps: int,
                                                             lingers: bool) -> None:
    task = recording_writer(worker_ctx, RecordingInflux())
    assert task.lingers_after(deliveries_of(batch_lines(10**18, steps), per_event=40)) is lingers


async def test_creates_the_database_and_writes_every_point_once(bus: Bus, fresh_ctx, redis, drain) -> None:
    lines = batch_lines(time.time_ns(), steps=40)
    await bus.publish_many(METRICS_INGESTED, envelopes(lines))
    await drain(MetricsWriterTask(fresh_ctx))
    influx = fresh_ctx.influx
    assert await point_count(influx) == len(lines)
    (policies,) = await influx.query("SHOW RETENTION POLICIES")
    assert [next(r for r in policies.values if r[0] == "aiops")[i] for i in (0, 1, 4)] == ["aiops", "2160h0m0s", True]
    await bus.publish_many(METRICS_INGESTED, envelopes(lines))  # a re-delivery of the same points
    await drain(MetricsWriterTask(fresh_ctx))
    assert await point_count(influx) == len(lines)
    assert await pending(bus) == 0


async def test_points_influxdb_refuses_are_dead_lettered_and_the_rest_written(bus: Bus, fresh_ctx, redis, drain) -> None:
    now = time.time_ns()
    good = batch_lines(now, steps=4)
    conflict = [f'cpu,host=web-0 usage_idle="busy" {now - 10**9}']  # string into a float field
    await bus.publish_many(METRICS_INGESTED, envelopes(good[:10]) + envelopes(conflict) + envelopes(good[10:]))
    task = MetricsWriterTask(fresh_ctx)
    for _ in range(40):  # failed entries are retried when idle (200 ms here), then dead-lettered
        await drain(task)
        if await redis.xlen(bus.dead_letter_key(METRICS_INGESTED)):
            break
        await asyncio.sleep(0.1)
    (dead,) = await redis.xrange(bus.dead_letter_key(METRICS_INGESTED))
    assert b"field type conflict" in dead[1][b"error"]
    assert await point_count(fresh_ctx.influx) == len(good)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateInfluxDB:
    """An influxd of the test's own (config as scripts/lib/stores.sh writes it) that the test stops and starts."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.config = directory / "influxdb.conf"
        self.config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{_free_port()}"\n'
            f'[meta]\n  dir = "{directory}/meta"\n'
            f'[data]\n  dir = "{directory}/data"\n  wal-dir = "{directory}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            '[monitor]\n  store-enabled = false\n')
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(["influxd", "-config", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError("private influxd did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def private_influx(tmp_path: Path) -> Iterator[PrivateInfluxDB]:
    influx = PrivateInfluxDB(tmp_path)
    yield influx
    influx.stop()


async def test_influxdb_outage_loses_nothing(bus: Bus, worker_ctx, redis, private_influx) -> None:
    """Stop InfluxDB, send, start it again: the batch stays pending meanwhile and is written on return."""
    settings = worker_ctx.settings.model_copy(update={"influx_url": private_influx.url})
    influx = InfluxClient(settings, timeout_s=2.0)
    unreachable = [0]  # requests that found InfluxDB down
    post = influx._post

    async def counted_post(path: str, **kwargs):
        try:
            return await post(path, **kwargs)
        except InfluxUnavailable:
            unreachable[0] += 1
            raise

    influx._post = counted_post  # type: ignore[method-assign]
    ctx = WorkerContext(settings=settings, redis=redis, sessions=worker_ctx.sessions, influx=influx)
    lines = batch_lines(time.time_ns(), steps=30)
    await bus.publish_many(METRICS_INGESTED, envelopes(lines))
    writer = asyncio.create_task(MetricsWriterTask(ctx).run(asyncio.Event(), drain=True))
    # InfluxDB is down: the writer reads the batch, finds InfluxDB down, tries again (the batch's own tries, after
    # the one at start), acks nothing. Awaited, not slept on: a loaded machine only makes it later.
    async with asyncio.timeout(60):
        while not (unreachable[0] >= 3 and await pending(bus) == len(envelopes(lines))):  # the group made by then
            await asyncio.sleep(0.05)
    assert not writer.done()
    assert await pending(bus) == len(envelopes(lines))
    await asyncio.to_thread(private_influx.start)
    await asyncio.wait_for(writer, timeout=60)
    assert await pending(bus) == 0
    assert await point_count(influx) == len(lines)
    await influx.aclose()


async def test_a_read_takes_the_metrics_streams_cap_of_entries_not_stream_batch_size(
        bus: Bus, worker_ctx: WorkerContext) -> None:
    """An entry holds up to a thousand lines: a read of STREAM_BATCH_SIZE's 500 held half a million points at once."""
    cap = METRICS_INGESTED.max_read
    assert cap is not None and cap < worker_ctx.settings.stream_batch_size
    await bus.publish_many(METRICS_INGESTED, envelopes(batch_lines(10**18, 2 * cap + 1), per_event=HOSTS))
    influx = RecordingInflux()
    # One body a batch: a body's lines are a batch's, and each entry holds one step of HOSTS lines
    task = recording_writer(worker_ctx, influx, influx_write_lines=10**6, stream_batch_size=500)
    await task.run(asyncio.Event(), drain=True)
    assert [body.count(b"\n") + 1 for body in influx.bodies] == [cap * HOSTS, cap * HOSTS, HOSTS]
