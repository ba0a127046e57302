"""The alert store task on real Redis and PostgreSQL."""

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.bus import Bus, live_envelopes
from aiops_contracts.db import Alert, TopologyEdge
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload
from aiops_contracts.streams import ALERTS_STORED
from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.runtime.consumer import Delivery
from aiops_worker.runtime.context import WorkerContext

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def alert(fingerprint: str, *, at: datetime = T0, source: str = "nagios", **fields) -> Envelope:
    payload = AlertPayload(fingerprint=fingerprint, title=fields.pop("title", f"alert {fingerprint}"),
                           occurred_at=at, **fields)
    return Envelope(type=ALERT_RECEIVED, source=source, payload=payload.model_dump(mode="json"))


async def alerts(sessions: async_sessionmaker[AsyncSession]) -> list[Alert]:
    async with sessions() as session:
        return list((await session.scalars(select(Alert).order_by(Alert.fingerprint))).all())


async def test_alerts_are_stored_and_announced(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(bus.live_channel)
    await bus.publish_many(AlertStoreTask.stream, [alert("a", severity="critical", host="web-1", signal="error"),
                                                   alert("b")])
    await drain(AlertStoreTask(worker_ctx))
    stored = await alerts(sessions)
    assert [(a.fingerprint, a.severity, a.host, a.count) for a in stored] == [("a", "critical", "web-1", 1), ("b", "medium", None, 1)]
    assert await redis.xlen(bus.key(ALERTS_STORED)) == 2
    live = []
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message:
            live.extend(Envelope.model_validate_json(text) for text in live_envelopes(message["data"]))
        if len(live) == 2:
            break
    assert {(e.payload["fingerprint"], e.payload["signal"]) for e in live} == {("a", "error"), ("b", None)}
    await pubsub.aclose()


async def test_alerts_keep_their_host_and_get_its_host_name(bus: Bus, worker_ctx: WorkerContext, redis: Redis,
                                                             sessions, drain) -> None:
    """The host as the alert gave it is shown; the host name, as correlation names it, is what the host filter reads."""
    await bus.publish_many(AlertStoreTask.stream, [alert("a", host="DB-1.prod.example.com:9100"), alert("b", host="db-1"),
                                                   alert("c", host="10.0.0.7:22"), alert("d")])
    await drain(AlertStoreTask(worker_ctx))
    assert [(a.host, a.host_name) for a in await alerts(sessions)] == [
        ("DB-1.prod.example.com:9100", "db-1"), ("db-1", "db-1"), ("10.0.0.7:22", "10.0.0.7"), (None, None)]


async def test_a_repeat_gives_an_alert_stored_without_a_host_name_its_host_name(
        bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    """A worker older than the host_name column stores the alert without one (a rolling deploy): the next firing
    sets it."""
    await bus.publish(AlertStoreTask.stream, alert("a", host="DB-1:9100"))
    await drain(AlertStoreTask(worker_ctx))
    async with sessions.begin() as session:
        (await session.scalar(select(Alert))).host_name = None
    await bus.publish(AlertStoreTask.stream, alert("a", at=T0 + timedelta(minutes=1), host="DB-1:9100"))
    await drain(AlertStoreTask(worker_ctx))
    assert [(a.host_name, a.count) for a in await alerts(sessions)] == [("db-1", 2)]


async def test_a_repeat_from_another_host_keeps_the_host_and_its_host_name_together(
        bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    """One fingerprint may fire from several hosts (Sentry groups an error across them): the stored host stays, and
    so must its host_name (it followed the repeat's host, and the host filter listed the alert under the other)."""
    await bus.publish(AlertStoreTask.stream, alert("a", host="web-1:9100"))
    await drain(AlertStoreTask(worker_ctx))
    await bus.publish(AlertStoreTask.stream, alert("a", at=T0 + timedelta(minutes=1), host="web-2:9100"))
    await drain(AlertStoreTask(worker_ctx))
    assert [(a.host, a.host_name, a.count) for a in await alerts(sessions)] == [("web-1:9100", "web-1", 2)]


async def test_redelivered_event_is_stored_once(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    event = alert("x")
    await bus.publish(AlertStoreTask.stream, event)
    await drain(AlertStoreTask(worker_ctx))
    await bus.publish(AlertStoreTask.stream, event)  # the same event id again
    await drain(AlertStoreTask(worker_ctx))
    (stored,) = await alerts(sessions)
    assert stored.count == 1
    # Both deliveries were announced with the same event id, so downstream consumers dedupe too.
    ids = {Envelope.from_entry(fields).id for _, fields in await redis.xrange(bus.key(ALERTS_STORED))}
    assert ids == {event.id}


async def test_an_event_twice_in_one_batch_is_stored_once(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions,
                                                          drain) -> None:
    event = alert("x")
    await bus.publish_many(AlertStoreTask.stream, [event, event])  # a webhook redelivery read with the first
    await drain(AlertStoreTask(worker_ctx))
    (stored,) = await alerts(sessions)
    assert stored.count == 1


async def test_repeats_are_counted_and_latest_state_wins(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    later = T0 + timedelta(minutes=5)
    batch = [alert("disk", at=T0, title="disk 90%"), alert("disk", at=later, title="disk 95%"),
             alert("disk", at=T0 - timedelta(minutes=1), title="disk 85%")]
    await bus.publish_many(AlertStoreTask.stream, batch)
    await drain(AlertStoreTask(worker_ctx))
    await bus.publish(AlertStoreTask.stream, alert("disk", at=T0, title="late and stale"))
    await drain(AlertStoreTask(worker_ctx))
    (stored,) = await alerts(sessions)
    assert stored.count == 4
    assert stored.title == "disk 95%"
    assert stored.first_seen_at == T0 - timedelta(minutes=1)
    assert stored.last_seen_at == later


async def test_resolution_and_refiring(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    await bus.publish(AlertStoreTask.stream, alert("cpu", at=T0))
    await bus.publish(AlertStoreTask.stream, alert("cpu", at=T0 + timedelta(minutes=1), status="resolved"))
    await drain(AlertStoreTask(worker_ctx))
    (stored,) = await alerts(sessions)
    assert (stored.status, stored.resolved_at) == ("resolved", T0 + timedelta(minutes=1))
    await bus.publish(AlertStoreTask.stream, alert("cpu", at=T0 + timedelta(minutes=2)))
    await drain(AlertStoreTask(worker_ctx))
    (stored,) = await alerts(sessions)
    assert (stored.status, stored.resolved_at) == ("firing", None)


async def test_acknowledged_alert_stays_acknowledged_when_it_repeats(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    await bus.publish(AlertStoreTask.stream, alert("mem", at=T0))
    await drain(AlertStoreTask(worker_ctx))
    async with sessions.begin() as session:
        (await session.scalar(select(Alert))).status = "acknowledged"
    await bus.publish(AlertStoreTask.stream, alert("mem", at=T0 + timedelta(minutes=1)))
    await drain(AlertStoreTask(worker_ctx))
    (stored,) = await alerts(sessions)
    assert (stored.status, stored.count) == ("acknowledged", 2)


async def test_invalid_payload_is_dead_lettered_and_the_rest_stored(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    bad = Envelope(type=ALERT_RECEIVED, source="nagios", payload={"title": "no fingerprint"})
    await bus.publish_many(AlertStoreTask.stream, [alert("ok-1"), bad, alert("ok-2")])
    await drain(AlertStoreTask(worker_ctx))
    assert [a.fingerprint for a in await alerts(sessions)] == ["ok-1", "ok-2"]
    assert await redis.xlen(bus.dead_letter_key(AlertStoreTask.stream)) == 1


async def test_an_alert_holding_nul_is_stored_with_it_replaced(bus: Bus, worker_ctx: WorkerContext, redis: Redis,
                                                              sessions, drain) -> None:
    """PostgreSQL refuses NUL in text and JSONB: such an entry (as receivers published it before) was retried, then
    dead-lettered, after its sender got 202."""
    payload = {"fingerprint": "fp\0", "title": "disk\0full", "labels": {"mount\0": "/var\0"},
               "annotations": {"summary": "\0"}, "details": {"exception": [{"value": "bad\0byte"}]}}
    await bus.publish(AlertStoreTask.stream, Envelope(type=ALERT_RECEIVED, source="nagios", payload=payload))
    await drain(AlertStoreTask(worker_ctx))
    (stored,) = await alerts(sessions)
    assert (stored.fingerprint, stored.title, stored.labels, stored.annotations, stored.details) == (
        "fp\ufffd", "disk\ufffdfull", {"mount\ufffd": "/var\ufffd"}, {"summary": "\ufffd"},
        {"exception": [{"value": "bad\ufffdbyte"}]})
    assert await redis.xlen(bus.dead_letter_key(AlertStoreTask.stream)) == 0


async def test_a_batch_mixing_times_with_and_without_offset_is_stored_in_one_go(worker_ctx: WorkerContext,
                                                                                  sessions) -> None:
    """A time without an offset (a generic webhook's occurred_at, an Alertmanager startsAt) is UTC: sorting it among
    aware ones raised TypeError, and every such batch went entry by entry (~40 times slower)."""
    naive = Envelope(type=ALERT_RECEIVED, source="nagios",
                     payload={"fingerprint": "a", "title": "a", "occurred_at": "2026-01-01T00:01:00"})
    envelopes = [naive, alert("a"), alert("b")]
    batch = [Delivery(f"{n}-0", e, AlertPayload.model_validate(e.payload)) for n, e in enumerate(envelopes, start=1)]
    await AlertStoreTask(worker_ctx).handle(batch)
    assert [(a.fingerprint, a.count, a.first_seen_at, a.last_seen_at) for a in await alerts(sessions)] == [
        ("a", 2, T0, T0 + timedelta(minutes=1)), ("b", 1, T0, T0)]


async def test_same_fingerprint_from_two_sources_are_two_alerts(bus: Bus, worker_ctx: WorkerContext, redis: Redis, sessions, drain) -> None:
    await bus.publish_many(AlertStoreTask.stream, [alert("f", source="a"), alert("f", source="b")])
    await drain(AlertStoreTask(worker_ctx))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Alert)) == 2


async def test_alerts_teach_the_topology_with_environment_and_release(bus: Bus, worker_ctx: WorkerContext,
                                                                      redis: Redis, sessions, drain) -> None:
    """A Sentry error names its host and service; its environment and release become labels of that edge,
    the newer release replacing the older one."""
    labels = {"environment": "production", "level": "error"}
    await bus.publish_many(AlertStoreTask.stream, [
        alert("e1", source="shop-sentry", host="web-1", service="checkout", labels={**labels, "release": "checkout@4.11.0"}),
        alert("h1", host="web-2"),  # no service: nothing to learn
    ])
    await drain(AlertStoreTask(worker_ctx))
    await bus.publish_many(AlertStoreTask.stream, [alert("e2", source="shop-sentry", host="WEB-1.prod.example.com",
                                                   service="checkout", labels={**labels, "release": "checkout@4.12.0"})])
    await drain(AlertStoreTask(worker_ctx))
    async with sessions() as session:
        edges = (await session.execute(select(TopologyEdge.source, TopologyEdge.target, TopologyEdge.labels))).all()
    assert edges == [("checkout", "web-1", {"environment": "production", "release": "checkout@4.12.0"})]
