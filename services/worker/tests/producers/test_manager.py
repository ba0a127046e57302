"""The producer manager in one process, on the test stores and a real SNMP agent: reconcile starts, keeps,
restarts and stops pollers as the table changes; leases share the sources out; health is recorded; devices are
asked to push events only to a PUBLIC_URL they can reach."""

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.db import Source
from aiops_contracts.envelope import Envelope
from aiops_contracts.pollers import ConnectionCheck, PollerSettings
from aiops_contracts.secrets import SecretBox
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import METRICS_INGESTED
from aiops_worker.producers.health import health_key
from aiops_worker.producers.manager import Outcome, ProducerManager, Running
from aiops_worker.producers.poller import CheckFailed, PartsFailed, PolledSource, Poller, PollResult
from aiops_worker.runtime.context import WorkerContext
from conftest import until


async def add_source(sessions: async_sessionmaker[AsyncSession], ctx: WorkerContext, agent, name: str,
                     interval_s: float = 60.0, community: str | None = None) -> str:
    box = SecretBox(ctx.settings.secrets_key.get_secret_value())
    async with sessions() as session:
        source = Source(name=name, kind="snmp", target="127.0.0.1", interval_s=interval_s,
                        config={"port": agent.port, "request_timeout_s": 0.3, "retries": 0},
                        credentials={"community": box.seal(community or agent.community)}, labels={"site": "t"})
        session.add(source)
        await session.commit()
        return str(source.id)


def manager(ctx: WorkerContext, name: str) -> ProducerManager:
    settings = ctx.settings.model_copy(update={"worker_name": name, "poller_lease_s": 5.0})
    return ProducerManager(WorkerContext(settings=settings, redis=ctx.redis, sessions=ctx.sessions,
                                         influx=ctx.influx))


async def test_reconcile_keeps_restarts_and_stops_pollers(worker_ctx, sessions, snmp_agent) -> None:
    first = await add_source(sessions, worker_ctx, snmp_agent, "sw-1")
    pollers = manager(worker_ctx, "w1")
    await pollers.reconcile()
    started = pollers.running[first]
    await pollers.reconcile()
    assert pollers.running[first] is started  # unchanged row: the same poller goes on
    async with sessions() as session:
        (await session.get(Source, uuid.UUID(first))).labels = {"site": "moved"}
        await session.commit()
    await pollers.reconcile()  # stopped; started again once closed (the reconcile does not wait for that)
    assert first not in pollers.running
    await pollers.closed()
    assert started.task.cancelled()
    await pollers.reconcile()
    assert pollers.running[first] is not started
    async with sessions() as session:
        (await session.get(Source, uuid.UUID(first))).enabled = False
        await session.commit()
    await pollers.reconcile()
    assert pollers.running == {}
    await pollers.closed()


async def test_a_poll_publishes_metrics_and_records_health(worker_ctx, sessions, snmp_agent, redis: Redis) -> None:
    good = await add_source(sessions, worker_ctx, snmp_agent, "sw-good")
    bad = await add_source(sessions, worker_ctx, snmp_agent, "sw-bad", community="wrong")
    # Polled a moment ago: the manager's own loops wait a whole interval (a new source's first poll comes at a
    # random point of it), so only the polls below run, each counted once.
    for source_id in (good, bad):
        await redis.hset(health_key(worker_ctx.settings, source_id), "last_poll_at", time.time())
    pollers = manager(worker_ctx, "w1")
    await pollers.reconcile()
    assert await pollers.poll_once(pollers.running[good].poller) == Outcome.ok
    assert await pollers.poll_once(pollers.running[bad].poller) == Outcome.failed
    healthy = {k.decode(): v.decode() for k, v in (await redis.hgetall(health_key(worker_ctx.settings, good))).items()}
    failing = {k.decode(): v.decode() for k, v in (await redis.hgetall(health_key(worker_ctx.settings, bad))).items()}
    assert healthy["worker"] == "w1" and int(healthy["points"]) > 3 and "last_error" not in healthy
    assert "wrong community" in failing["last_error"] and failing["consecutive_failures"] == "1"
    sample = REGISTRY.get_sample_value  # the worker's Prometheus metrics, per source
    assert sample("aiops_poller_polls_total", {"source": "sw-good", "kind": "snmp", "outcome": "ok"}) == 1
    assert sample("aiops_poller_polls_total", {"source": "sw-bad", "kind": "snmp", "outcome": "failed"}) == 1
    assert sample("aiops_poller_points_total", {"source": "sw-good", "kind": "snmp"}) == int(healthy["points"])
    assert sample("aiops_poller_last_success_timestamp_seconds", {"source": "sw-good", "kind": "snmp"}) > 0
    entries = await redis.xrange(worker_ctx.bus.key(METRICS_INGESTED))
    assert len(entries) == 1 and "snmp_interface" in Envelope.from_entry(entries[0][1]).payload["lines"]
    for running in list(pollers.running):
        await pollers._stop(running)
    assert sample("aiops_poller_polls_total", {"source": "sw-good", "kind": "snmp", "outcome": "ok"}) is None


async def test_a_source_holding_a_reserved_name_is_not_polled(worker_ctx, sessions, snmp_agent, redis: Redis) -> None:
    # Migration 0027 renames those created before the names were refused; one left would publish alerts passing for
    # the worker's own anomaly, forecast or pipeline alerts. Its health says why it is not polled.
    held = await add_source(sessions, worker_ctx, snmp_agent, "Capacity-Forecast")
    pollers = manager(worker_ctx, "w1")
    await pollers.reconcile()
    assert pollers.running == {}
    health = await redis.hget(health_key(worker_ctx.settings, held), "last_error")
    assert health is not None and "reserved for the worker's own alerts" in health.decode()


async def test_leases_share_the_sources_between_replicas(worker_ctx, sessions, snmp_agent) -> None:
    ids = [await add_source(sessions, worker_ctx, snmp_agent, f"sw-{n}") for n in range(4)]
    one, two = manager(worker_ctx, "w1"), manager(worker_ctx, "w2")
    await one.leases.hold([], 0)
    await two.reconcile()  # both replicas are live now: each takes its fair share, two sources
    await one.reconcile()
    await two.reconcile()
    assert len(one.running) == len(two.running) == 2 and set(one.running) | set(two.running) == set(ids)
    await asyncio.gather(*(m._stop(i) for m in (one, two) for i in list(m.running)))


async def test_a_replica_that_joins_gets_its_share(worker_ctx, sessions, snmp_agent) -> None:
    ids = [await add_source(sessions, worker_ctx, snmp_agent, f"sw-{n}") for n in range(4)]
    one, two = manager(worker_ctx, "w1"), manager(worker_ctx, "w2")
    await one.reconcile()
    assert len(one.running) == 4  # alone: every source
    await two.reconcile()  # joins: nothing free yet
    await one.reconcile()  # two replicas now: gives up the excess
    await two.reconcile()
    assert len(one.running) == len(two.running) == 2 and set(one.running) | set(two.running) == set(ids)
    await asyncio.gather(*(m._stop(i) for m in (one, two) for i in list(m.running)))
    await one.closed()  # those it gave up


async def test_a_request_that_fails_is_answered_and_the_next_ones_still_are(worker_ctx, redis: Redis) -> None:
    pollers = manager(worker_ctx, "w1")
    replies = [f"reply:{uuid.uuid4().hex}" for _ in range(2)]
    await redis.rpush(worker_ctx.bus.poller_checks_key, b"not json",
                      orjson.dumps({"source_id": "not-a-uuid", "reply_to": replies[0]}),
                      orjson.dumps({"source_id": str(uuid.uuid4()), "reply_to": replies[1]}))
    stop = asyncio.Event()
    answering = asyncio.create_task(pollers._answer_checks(stop))
    try:
        answers = [ConnectionCheck.model_validate_json((await redis.blpop([reply], timeout=10))[1])
                   for reply in replies]
    finally:
        stop.set()
        await answering
    assert [(a.ok, a.steps[0].stage) for a in answers] == [(False, "config"), (False, "config")]
    assert "could not test" in answers[0].steps[0].message and "not a polled source" in answers[1].steps[0].message


async def test_a_request_the_api_stopped_waiting_for_is_skipped(worker_ctx, redis: Redis) -> None:
    pollers = manager(worker_ctx, "w1")
    late, current = (f"reply:{uuid.uuid4().hex}" for _ in range(2))
    await redis.rpush(worker_ctx.bus.poller_checks_key, *(
        orjson.dumps({"source_id": str(uuid.uuid4()), "reply_to": reply, "expires_at": time.time() + offset_s})
        for reply, offset_s in ((late, -1), (current, 60))))
    stop = asyncio.Event()
    answering = asyncio.create_task(pollers._answer_checks(stop))
    try:
        assert await redis.blpop([current], timeout=10)  # answered after the expired one, which was not
    finally:
        stop.set()
        await answering
    assert await redis.exists(late) == 0


def test_devices_are_asked_to_push_only_to_a_public_url_they_can_reach(worker_ctx) -> None:
    box = SecretBox(worker_ctx.settings.secrets_key.get_secret_value())
    remote, local = (Source(id=uuid.uuid4(), name=f"bmc-{n}", kind="redfish", target=target, interval_s=60.0,
                            labels={}, config={"username": "root"}, credentials={"password": box.seal("calvin")})
                     for n, target in enumerate(("https://10.0.0.7", "http://127.0.0.1:8443")))

    def push_urls(public_url: str) -> tuple[str | None, str | None]:
        pollers = manager(worker_ctx.__class__(settings=worker_ctx.settings.model_copy(
            update={"public_url": public_url}), redis=worker_ctx.redis, sessions=worker_ctx.sessions,
            influx=worker_ctx.influx), "w1")
        return pollers.build(remote).source.push_url, pollers.build(local).source.push_url

    assert push_urls("") == (None, None)  # the default
    assert push_urls("http://127.0.0.1:8080") == (None, f"http://127.0.0.1:8080/webhooks/redfish/{local.id}")
    assert push_urls("https://aiops.example.com") == (f"https://aiops.example.com/webhooks/redfish/{remote.id}",
                                                      f"https://aiops.example.com/webhooks/redfish/{local.id}")


class SlowToClose(Poller):
    """Closes once the test lets it, as a Redfish poller does once its BMC answers the unsubscribe."""

    kind = SourceKind.redfish

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source)
        self.may_close, self.closed = asyncio.Event(), False

    async def poll(self) -> PollResult:
        return PollResult()

    async def aclose(self) -> None:
        await self.may_close.wait()
        self.closed = True


def slow_to_close(pollers: ProducerManager, name: str) -> SlowToClose:
    """A running poller of a source that has no row."""
    source = PolledSource(id=str(uuid.uuid4()), name=name, kind=SourceKind.redfish, target="http://127.0.0.1:9",
                          interval_s=60.0, labels={}, settings=PollerSettings())
    poller = SlowToClose(source)
    pollers.running[source.id] = Running(poller, "its row", asyncio.create_task(pollers._poll_forever(poller, 60.0)))
    return poller


async def test_a_poller_slow_to_close_holds_up_no_reconcile_and_no_lease(worker_ctx, redis: Redis) -> None:
    pollers = manager(worker_ctx, "w1")
    removed = slow_to_close(pollers, "bmc-removed")
    async with asyncio.timeout(30):  # were the close waited for, the leases this reconcile renews would expire
        await pollers.reconcile()  # its row is gone: stopped
    assert pollers.running == {} and not removed.closed
    held = slow_to_close(pollers, "bmc-held")
    pollers.leases.ttl_s = 3600.0  # freed below, not expired
    assert await pollers.leases.hold([held.source.id], already_held=0) == {held.source.id}
    stop = asyncio.Event()
    stop.set()
    ending = asyncio.create_task(pollers.run(stop))

    async def released() -> bool:
        return not await redis.exists(pollers.leases.lease_key(held.source.id))

    await until(released, 30, "the lease freed while its poller is still closing")
    assert not ending.done() and not held.closed
    for poller in (removed, held):
        poller.may_close.set()
    await ending  # once both are closed
    assert removed.closed and held.closed


async def test_a_poller_whose_start_fails_is_closed(worker_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its first poll's delay is read from Redis: down then, the poller built (an SNMP one holds its engine from
    the start) is closed, not dropped."""
    pollers = manager(worker_ctx, "w1")
    built = SlowToClose(PolledSource(id=str(uuid.uuid4()), name="sw-1", kind=SourceKind.snmp, target="127.0.0.1",
                                     interval_s=60.0, labels={}, settings=PollerSettings()))
    built.may_close.set()

    async def redis_down(source: PolledSource) -> float:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(pollers, "build", lambda row: built)
    monkeypatch.setattr(pollers, "_first_delay", redis_down)
    with pytest.raises(RedisConnectionError):
        await pollers._start(Source(id=uuid.UUID(built.source.id), name="sw-1", kind="snmp"))
    assert built.closed and pollers.running == {}


class OwnRedis:
    """A redis-server of the test's own on a unix socket, which the test takes down and brings back."""

    def __init__(self, sock: Path) -> None:
        self.sock, self.url, self.process = sock, f"unix://{sock}", None

    def start(self) -> "OwnRedis":
        self.process = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(self.sock),
                                         "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the socket appears once the server listens
        assert self.sock.exists(), "redis-server did not start"
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis.sock").start()
    yield server
    server.stop()


class OutageAtFirstPoll(Poller):
    """Takes its Redis down while its first poll runs: the manager records that poll's health into the outage."""

    kind = SourceKind.redfish

    def __init__(self, source: PolledSource, outage: OwnRedis) -> None:
        super().__init__(source)
        self.outage, self.polls = outage, 0

    async def poll(self) -> PollResult:
        self.polls += 1
        if self.polls == 1:
            self.outage.stop()
        return PollResult()


async def test_a_redis_outage_as_a_poll_ends_does_not_stop_the_poller(worker_ctx, own_redis: OwnRedis) -> None:
    redis = Redis.from_url(own_redis.url, socket_timeout=2)
    ctx = WorkerContext(settings=worker_ctx.settings, redis=redis, sessions=worker_ctx.sessions,
                        influx=worker_ctx.influx)
    pollers = manager(ctx, "w1")
    source = PolledSource(id=str(uuid.uuid4()), name="bmc-outage", kind=SourceKind.redfish,
                          target="http://127.0.0.1:9", interval_s=0.05, labels={}, settings=PollerSettings())
    poller = OutageAtFirstPoll(source, own_redis)
    task = asyncio.create_task(pollers._poll_forever(poller, 0.0))
    try:
        async def polled_on(n: int) -> bool:
            assert not task.done(), f"the poller ended: {task.exception()!r}"
            return poller.polls >= n

        await until(lambda: polled_on(3), 10, "polls go on while Redis is down")
        own_redis.start()
        await until(lambda: redis.hexists(health_key(ctx.settings, source.id), "last_poll_at"), 10,
                    "health recorded again once Redis is back")
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await redis.aclose()


class OneRepositoryGone(Poller):
    """Two repositories, one deleted (404 at every poll): the other's runs are read each time."""

    kind = SourceKind.github_actions

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source)
        self.polls = 0

    async def poll(self) -> PollResult:
        self.polls += 1
        raise PartsFailed(PollResult(lines=["github_api rate_remaining=4999i"]),
                          {"octo-org/gone": CheckFailed("protocol", "GET /repos/octo-org/gone: 404")}, parts=2)


async def test_a_source_failing_in_some_parts_is_polled_at_its_interval(worker_ctx, redis: Redis) -> None:
    """Its health says which parts fail; the others' records still come every interval (no back-off)."""
    pollers = manager(worker_ctx, "w1")
    source = PolledSource(id=str(uuid.uuid4()), name="ci-partly", kind=SourceKind.github_actions,
                          target="http://127.0.0.1:9", interval_s=0.05, labels={}, settings=PollerSettings())
    poller = OneRepositoryGone(source)
    assert await pollers.poll_once(poller) == Outcome.partial
    task = asyncio.create_task(pollers._poll_forever(poller, 0.0))

    async def polled_on(n: int) -> bool:
        return poller.polls >= n

    try:  # backed off (the interval doubled per failure) the 8th poll would come 6.35 s in; 0.35 s at the interval
        await until(lambda: polled_on(8), 3, "polls every interval")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    health = {k.decode(): v.decode() for k, v in (await redis.hgetall(health_key(worker_ctx.settings, source.id))).items()}
    assert health["last_error"] == "protocol: octo-org/gone: GET /repos/octo-org/gone: 404"
    assert int(health["points_total"]) >= 8 and int(health["consecutive_failures"]) >= 8


async def test_reconcile_restarts_a_poller_whose_task_ended(worker_ctx, sessions, snmp_agent) -> None:
    source_id = await add_source(sessions, worker_ctx, snmp_agent, "sw-ended")
    pollers = manager(worker_ctx, "w1")
    await pollers.reconcile()
    ended = pollers.running[source_id]
    ended.task.cancel()  # ended for any reason (a bug, a cancellation from below): lease held, nothing polls
    await asyncio.gather(ended.task, return_exceptions=True)
    await pollers.reconcile()  # stopped
    await pollers.closed()
    await pollers.reconcile()  # started again
    assert pollers.running[source_id] is not ended and not pollers.running[source_id].task.done()
    await pollers._stop(source_id)
