"""The stream consumer's delivery guarantees, on a real Redis."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import StreamSpec
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from conftest import until

STREAM = StreamSpec("aiops:test:consumer", maxlen=10_000)
HANDLED = "test:handled"  # a Redis set: what the handler durably did
# How long a wait for the consumer may take: generous for a loaded machine, and still far below the lingering
# consumer's minute, so "handled at once" and "long before the linger ends" keep their meaning.
WAIT_S = 30


class Item(BaseModel):
    n: int
    bad: bool = False


class RecordingConsumer(StreamConsumer[Item]):
    """Records each handled item in a Redis set; items marked bad always fail."""

    name = "test-recorder"
    stream = STREAM
    payload_model = Item
    transient_failures: ClassVar[int] = 0

    async def handle(self, batch: list[Delivery[Item]]) -> None:
        if RecordingConsumer.transient_failures > 0:
            RecordingConsumer.transient_failures -= 1
            raise ConnectionError("store down")
        if any(d.payload.bad for d in batch):
            raise ValueError("bad item")
        await self.redis.sadd(HANDLED, *[d.payload.n for d in batch])


def items(*numbers: int, bad: tuple[int, ...] = ()) -> list[Envelope]:
    return [Envelope(type="test.item", source="test", payload={"n": n, "bad": n in bad}) for n in numbers]


async def pending(bus: Bus, group: str = RecordingConsumer.name) -> int:
    return (await bus.redis.xpending(bus.key(STREAM), group))["pending"]


async def test_handled_entries_are_acked(bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    await bus.publish_many(STREAM, items(*range(10)))
    await drain(RecordingConsumer(worker_ctx))
    assert await redis.scard(HANDLED) == 10
    assert await pending(bus) == 0


async def test_entries_stay_pending_until_handled(bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    release = asyncio.Event()

    class SlowConsumer(RecordingConsumer):
        async def handle(self, batch: list[Delivery[Item]]) -> None:
            await release.wait()
            await super().handle(batch)

    await bus.publish_many(STREAM, items(1, 2, 3))
    run = asyncio.create_task(drain(SlowConsumer(worker_ctx)))

    async def read_by_the_consumer() -> bool:
        return bool(await redis.xinfo_groups(bus.key(STREAM))) and await pending(bus) == 3

    await until(read_by_the_consumer, WAIT_S, "the three entries read and pending")
    assert await redis.scard(HANDLED) == 0
    release.set()
    await run
    assert await pending(bus) == 0


async def test_idle_entries_of_a_dead_consumer_are_reclaimed(bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    await bus.ensure_group(STREAM, RecordingConsumer.name)
    await bus.publish_many(STREAM, items(1, 2, 3))
    # Another consumer reads the entries and dies before acking them.
    await redis.xreadgroup(RecordingConsumer.name, "crashed-worker", {bus.key(STREAM): ">"}, count=10)
    await asyncio.sleep(worker_ctx.settings.stream_claim_idle_ms / 1000 + 0.05)
    await drain(RecordingConsumer(worker_ctx))
    assert await redis.smembers(HANDLED) == {b"1", b"2", b"3"}
    assert await pending(bus) == 0


async def test_restarted_consumer_resumes_its_own_pending_entries_at_once(bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    await bus.ensure_group(STREAM, RecordingConsumer.name)
    await bus.publish_many(STREAM, items(7, 8))
    await redis.xreadgroup(RecordingConsumer.name, worker_ctx.settings.worker_name, {bus.key(STREAM): ">"}, count=10)
    await drain(RecordingConsumer(worker_ctx))  # no idle wait: same consumer name
    assert await redis.smembers(HANDLED) == {b"7", b"8"}


async def test_failing_entry_is_dead_lettered_after_max_deliveries(bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    await bus.publish_many(STREAM, items(1, 2, 3, bad=(2,)))
    consumer = RecordingConsumer(worker_ctx)
    for _ in range(worker_ctx.settings.stream_max_deliveries + 2):
        await drain(consumer)
        if await redis.xlen(bus.dead_letter_key(STREAM)):
            break
        await asyncio.sleep(worker_ctx.settings.stream_claim_idle_ms / 1000 + 0.05)
    assert await redis.smembers(HANDLED) == {b"1", b"3"}  # the good entries around it were handled
    dead = await redis.xrange(bus.dead_letter_key(STREAM))
    assert len(dead) == 1
    fields = dead[0][1]
    assert b"bad item" in fields[b"error"]
    assert Envelope.from_entry(fields).payload["n"] == 2
    assert await pending(bus) == 0


async def test_undecodable_entry_is_dead_lettered_at_once(bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    await redis.xadd(bus.key(STREAM), {b"envelope": b"{not json"})
    await redis.xadd(bus.key(STREAM), {b"other": b"field"})
    await bus.publish(STREAM, items(5)[0])
    await drain(RecordingConsumer(worker_ctx))
    assert await redis.smembers(HANDLED) == {b"5"}
    assert await redis.xlen(bus.dead_letter_key(STREAM)) == 2
    assert await pending(bus) == 0


async def test_store_outage_is_retried_without_spending_deliveries(bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    RecordingConsumer.transient_failures = 2  # more than zero; backs off 1 s then 2 s
    await bus.publish_many(STREAM, items(1, 2))
    await drain(RecordingConsumer(worker_ctx))
    assert await redis.smembers(HANDLED) == {b"1", b"2"}
    assert await redis.xlen(bus.dead_letter_key(STREAM)) == 0


@pytest.mark.parametrize("group", [RecordingConsumer.name, "second-reader"])
async def test_each_group_gets_every_entry(bus: Bus, worker_ctx: WorkerContext, redis: Redis, group: str, drain) -> None:
    class GroupConsumer(RecordingConsumer):
        pass

    GroupConsumer.name = group  # the group is named after the task
    await bus.publish_many(STREAM, items(1, 2))
    await drain(GroupConsumer(worker_ctx))
    assert await redis.scard(HANDLED) == 2
    assert await pending(bus, group) == 0


async def test_the_former_group_is_taken_over_with_its_backlog_and_removed(bus: Bus, worker_ctx: WorkerContext,
                                                                           redis: Redis, drain) -> None:
    """After an upgrade that renamed the group: nothing the old group had not handled is lost, and no orphan
    group stays behind to count in the backlog guard."""
    class RenamedConsumer(RecordingConsumer):
        former_group = "aiops-consumers"

    await bus.ensure_group(STREAM, "aiops-consumers")
    await bus.publish_many(STREAM, items(1, 2, 3, 4))
    read = await redis.xreadgroup("aiops-consumers", "old-worker", {bus.key(STREAM): ">"}, count=3)
    await redis.xack(bus.key(STREAM), "aiops-consumers", read[0][1][0][0])  # 1 handled, 2-3 pending, 4 unread
    await redis.sadd(HANDLED, 1)
    await drain(RenamedConsumer(worker_ctx))
    assert await redis.smembers(HANDLED) == {b"1", b"2", b"3", b"4"}
    assert [g["name"] for g in await redis.xinfo_groups(bus.key(STREAM))] == [RecordingConsumer.name.encode()]
    assert await pending(bus) == 0


class PipelinedConsumer(RecordingConsumer):
    """Two batches in flight; the batch holding item 1 waits for `first_may_end`. Records every batch handed over."""

    batches_in_flight = 2
    first_may_end: asyncio.Event
    batches: list[list[int]]

    async def handle(self, batch: list[Delivery[Item]]) -> None:
        self.batches.append([d.payload.n for d in batch])
        if any(d.payload.n == 1 for d in batch):
            await self.first_may_end.wait()
        await super().handle(batch)


def pipelined_consumer(worker_ctx: WorkerContext) -> PipelinedConsumer:
    settings = worker_ctx.settings.model_copy(update={"stream_batch_size": 2})
    consumer = PipelinedConsumer(WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                                               influx=worker_ctx.influx))
    consumer.first_may_end, consumer.batches = asyncio.Event(), []
    return consumer


async def test_batches_in_flight_are_handled_side_by_side_each_acked_once_handled(
        bus: Bus, worker_ctx: WorkerContext, redis: Redis, drain) -> None:
    await bus.publish_many(STREAM, items(1, 2, 3, 4))
    consumer = pipelined_consumer(worker_ctx)
    run = asyncio.create_task(drain(consumer))

    async def second_handled_first() -> bool:
        return await redis.smembers(HANDLED) == {b"3", b"4"}

    await until(second_handled_first, WAIT_S, "the second batch handled while the first waits")
    assert await pending(bus) == 2  # the first batch's entries: not acked before their own handle returned
    consumer.first_may_end.set()
    await run
    assert consumer.batches == [[1, 2], [3, 4]] and await pending(bus) == 0


async def test_a_batch_waiting_for_its_store_is_not_reclaimed_by_its_own_consumer(
        bus: Bus, worker_ctx: WorkerContext, redis: Redis) -> None:
    """XAUTOCLAIM takes any entry idle for stream_claim_idle_ms, the consumer's own in flight too: it would hand them
    over a second time and count a delivery each time (which dead-letters an entry early)."""
    await bus.publish_many(STREAM, items(1, 2, 3, 4))
    consumer = pipelined_consumer(worker_ctx)
    reads_after_idle = 0
    next_entries = consumer._next_entries

    async def counted_next_entries(block: bool) -> list:
        nonlocal reads_after_idle
        first = await redis.xpending_range(bus.key(STREAM), consumer.group_name, "-", "+", 1)
        if first and first[0]["time_since_delivered"] > 2 * worker_ctx.settings.stream_claim_idle_ms:
            reads_after_idle += 1  # a claim was due by now: the entries waited twice as long as it takes
        return await next_entries(block)

    consumer._next_entries = counted_next_entries  # type: ignore[method-assign]
    stop = asyncio.Event()
    run = asyncio.create_task(consumer.run(stop))

    async def reads_went_on() -> bool:
        return reads_after_idle >= 3

    await until(reads_went_on, WAIT_S, "reads going on while the first batch waits past the claim time")
    consumer.first_may_end.set()

    async def all_handled() -> bool:
        return await pending(bus) == 0 and await redis.scard(HANDLED) == 4

    await until(all_handled, WAIT_S, "every entry handled")
    stop.set()
    await run
    assert consumer.batches == [[1, 2], [3, 4]]
    assert await redis.xlen(bus.dead_letter_key(STREAM)) == 0


async def test_a_cancelled_consumer_ends_after_its_batches_in_flight_unwound(
        bus: Bus, worker_ctx: WorkerContext, redis: Redis) -> None:
    """Whoever cancels a consumer closes the pools its batches use once it ended: they must have unwound by then."""
    await bus.publish_many(STREAM, items(1, 2, 3, 4))
    consumer = pipelined_consumer(worker_ctx)
    unwound: list[list[int]] = []
    handle = consumer.handle

    async def unwinding_handle(batch: list[Delivery[Item]]) -> None:
        try:
            await handle(batch)
        finally:
            await asyncio.sleep(0)  # unwinding takes a turn of the loop, as closing a connection does
            unwound.append([d.payload.n for d in batch])

    consumer.handle = unwinding_handle  # type: ignore[method-assign]
    run = asyncio.create_task(consumer.run(asyncio.Event()))

    async def first_waits_second_handled() -> bool:
        return unwound == [[3, 4]] and len(consumer._handling) == 1

    await until(first_waits_second_handled, WAIT_S, "the second batch handled while the first waits")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert unwound == [[3, 4], [1, 2]]


class LingeringConsumer(RecordingConsumer):
    """Gathers for a minute after a short batch (3 entries make a full one); records every batch handed over."""

    linger_s = 60.0
    batches: list[list[int]]

    async def handle(self, batch: list[Delivery[Item]]) -> None:
        self.batches.append([d.payload.n for d in batch])
        await super().handle(batch)


def lingering_consumer(worker_ctx: WorkerContext) -> LingeringConsumer:
    settings = worker_ctx.settings.model_copy(update={"stream_batch_size": 3})
    consumer = LingeringConsumer(WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                                               influx=worker_ctx.influx))
    consumer.batches = []
    return consumer


def handled(redis: Redis, *numbers: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await redis.smembers(HANDLED) >= {str(n).encode() for n in numbers}
    return check


async def test_after_a_short_batch_the_next_is_gathered_read_by_read_and_handled_once_full(
        bus: Bus, worker_ctx: WorkerContext, redis: Redis) -> None:
    consumer, stop = lingering_consumer(worker_ctx), asyncio.Event()
    await bus.publish_many(STREAM, items(1))
    run = asyncio.create_task(consumer.run(stop))
    await until(handled(redis, 1), WAIT_S, "a lone first entry handled at once")
    for n in (2, 3):  # each read while the next batch gathers, before the next one is published

        async def read(count: int = n - 1) -> bool:
            return await pending(bus) == count

        await bus.publish_many(STREAM, items(n))
        await until(read, WAIT_S, f"entry {n} read")
    await bus.publish_many(STREAM, items(4))
    await until(handled(redis, 2, 3, 4), WAIT_S, "the gathered batch handled once full, long before the linger ends")
    stop.set()
    await run
    assert consumer.batches == [[1], [2, 3, 4]]


async def test_a_full_read_is_not_followed_by_a_linger(bus: Bus, worker_ctx: WorkerContext, redis: Redis) -> None:
    consumer, stop = lingering_consumer(worker_ctx), asyncio.Event()
    await bus.publish_many(STREAM, items(1, 2, 3))
    run = asyncio.create_task(consumer.run(stop))
    await until(handled(redis, 1, 2, 3), WAIT_S, "the full first batch handled")
    await bus.publish_many(STREAM, items(4))
    await until(handled(redis, 4), WAIT_S, "the next entry handled at once")
    stop.set()
    await run
    assert consumer.batches == [[1, 2, 3], [4]]


async def test_a_second_copy_of_an_envelope_in_a_batch_is_acked_unhandled(bus: Bus, worker_ctx: WorkerContext,
                                                                         redis: Redis, drain) -> None:
    one, two = items(1, 2)
    await bus.publish_many(STREAM, [one, two, one])  # one published again (the file tail after a crash, say)
    consumer = lingering_consumer(worker_ctx)
    await drain(consumer)
    assert consumer.batches == [[1, 2]]  # handlers claim ids as a set: the copy would count as first-time too
    assert await pending(bus) == 0


async def test_a_second_copy_arriving_while_a_batch_gathers_is_acked_unhandled(bus: Bus, worker_ctx: WorkerContext,
                                                                              redis: Redis) -> None:
    consumer, stop = lingering_consumer(worker_ctx), asyncio.Event()
    await bus.publish_many(STREAM, items(1))
    run = asyncio.create_task(consumer.run(stop))
    await until(handled(redis, 1), WAIT_S, "a lone first entry handled at once")
    two, three = items(2, 3)
    for envelope in (two, two, three):
        await bus.publish(STREAM, envelope)
    await until(handled(redis, 2, 3), WAIT_S, "the gathered batch handled once full")
    stop.set()
    await run
    assert consumer.batches == [[1], [2, 3]]
    assert await pending(bus) == 0
