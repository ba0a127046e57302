"""The bus: counts what each source published, carries the publisher's trace context, refuses to publish where
trimming would delete entries a consumer group has not handled, and keeps everything under its prefix."""

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY

from aiops_contracts import bus as bus_module
from aiops_contracts.bus import Bus, DeadLetter, StreamBacklogFull, live_envelopes
from aiops_contracts.envelope import Envelope, UnencodableEnvelope
from aiops_contracts.settings import CommonSettings
from aiops_contracts.streams import LIVE_CHANNEL, StreamSpec

STREAM = StreamSpec("aiops:test:bus", maxlen=1_000)


def published(source: str) -> float:
    return REGISTRY.get_sample_value("aiops_events_published_total", {"stream": STREAM.name, "source": source}) or 0.0


def events(source: str, count: int) -> list[Envelope]:
    return [Envelope(type="test.published", source=source) for _ in range(count)]


async def test_published_events_are_counted_per_source(bus: Bus) -> None:
    before_a, before_b = published("a"), published("b")
    await bus.publish_many(STREAM, [*events("a", 3), *events("b", 1)])
    await bus.publish(STREAM, events("a", 1)[0])
    assert (published("a") - before_a, published("b") - before_b) == (4, 1)


async def test_trace_context_is_carried_only_inside_a_trace(bus: Bus) -> None:
    outside, inside, own = events("t", 1)[0], events("t", 1)[0], events("t", 1)[0]
    own.trace = {"traceparent": "00-11111111111111111111111111111111-2222222222222222-01"}
    await bus.publish(STREAM, outside)
    span = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1)))
    with trace.use_span(span):
        await bus.publish_many(STREAM, [inside, own])
    stored = [Envelope.from_entry(fields) for _, fields in await bus.redis.xrange(bus.key(STREAM))]
    assert stored[0].trace == {}
    assert stored[1].trace["traceparent"] == f"00-{0xABC:032x}-{0xDEF:016x}-01"
    assert stored[2].trace == own.trace  # a worker re-publishing keeps the event's own trace


async def test_a_backlogged_group_refuses_publishing_until_it_catches_up(bus: Bus, monkeypatch) -> None:
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)  # read the backlog on every publish
    small, redis = StreamSpec("aiops:test:backlog", maxlen=10), bus.redis
    await bus.ensure_group(small, "slow")
    await bus.publish_many(small, events("s", 8))
    await bus.publish(small, events("s", 1)[0])  # 8 outstanding: below 90 % of MAXLEN
    with pytest.raises(StreamBacklogFull):
        await bus.publish(small, events("s", 1)[0])  # 9 outstanding: the next trim could drop unread ones
    assert await redis.xlen(bus.key(small)) == 9  # nothing was trimmed, nothing half-written

    read = await redis.xreadgroup("slow", "c1", {bus.key(small): ">"}, count=5)
    with pytest.raises(StreamBacklogFull):  # delivered is not done: pending entries still count
        await bus.publish(small, events("s", 1)[0])
    await redis.xack(bus.key(small), "slow", *(entry_id for entry_id, _ in read[0][1]))
    await bus.publish_many(small, events("s", 3))  # 4 + 3 outstanding


async def test_backlog_readings_belong_to_one_bus(bus: Bus, common_settings: CommonSettings) -> None:
    """A reading of a full stream stays with the bus that took it (no module-global cache leaking between tests)."""
    small = StreamSpec("aiops:test:readings", maxlen=10)
    await bus.ensure_group(small, "slow")
    await Bus(bus.redis, common_settings).publish_many(small, events("s", 9))
    with pytest.raises(StreamBacklogFull):
        await bus.publish(small, events("s", 1)[0])  # this bus now trusts its reading for BACKLOG_CHECK_S
    await bus.redis.xgroup_setid(bus.key(small), "slow", "$")  # the group caught up
    await Bus(bus.redis, common_settings).publish(small, events("s", 1)[0])  # another bus reads afresh
    with pytest.raises(StreamBacklogFull):
        await bus.publish(small, events("s", 1)[0])


async def test_the_prefix_names_streams_dead_letters_and_the_live_channel(redis, common_settings) -> None:
    replay = Bus(redis, common_settings.model_copy(update={"bus_prefix": f"{common_settings.bus_prefix}replay:"}))
    other = Bus(redis, common_settings)
    assert replay.key(STREAM) == f"{common_settings.bus_prefix}replay:aiops:test:bus"
    assert replay.dead_letter_key(STREAM) == f"{replay.key(STREAM)}:dead"
    assert replay.live_channel == f"{common_settings.bus_prefix}replay:{LIVE_CHANNEL}"
    async with other.live() as heard_other, replay.live() as heard_replay:
        await replay.publish_and_broadcast(STREAM, events("r", 1))
        assert Envelope.model_validate_json(await next_message(heard_replay, 5)).source == "r"
        assert await next_message(heard_other, 0.2) is None  # the same code, its own channel
    assert await redis.xlen(replay.key(STREAM)) == 1
    assert not await redis.exists(other.key(STREAM))


async def test_a_broadcast_is_one_message_that_splits_into_its_envelopes(bus: Bus) -> None:
    sent = [*events("x", 2), Envelope(type="test.published", source="y", payload={"text": "two\nlines"})]
    async with bus.live() as heard:
        await bus.broadcast(sent)
        received = [Envelope.model_validate_json(text) for text in live_envelopes(await next_message(heard, 5))]
        assert await next_message(heard, 0.2) is None
    assert received == sent


async def next_message(pubsub, timeout_s: float) -> bytes | None:
    """The next published message's data, or None when none came within the time (confirmations skipped)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message:
            return message["data"]
    return None


async def test_a_dead_letter_keeps_the_entry_the_error_and_the_group(bus: Bus) -> None:
    await bus.ensure_group(STREAM, "reader")
    entry_id = await bus.publish(STREAM, events("d", 1)[0])
    await bus.redis.xreadgroup("reader", "c1", {bus.key(STREAM): ">"})
    part = events("d", 1)[0]
    await bus.dead_letter(STREAM, "reader", DeadLetter(entry_id, part.to_entry(), "one line bad"), ack=False)
    assert (await bus.redis.xpending(bus.key(STREAM), "reader"))["pending"] == 1  # a part: the entry goes on
    await bus.dead_letter(STREAM, "reader", DeadLetter(entry_id, {b"envelope": b"{}"}, "x" * 3000), ack=True)
    assert (await bus.redis.xpending(bus.key(STREAM), "reader"))["pending"] == 0
    (_, first), (_, second) = await bus.redis.xrange(bus.dead_letter_key(STREAM))
    assert Envelope.from_entry(first).id == part.id
    assert (first[b"error"], first[b"original_id"], first[b"group"]) == (b"one line bad", entry_id.encode(), b"reader")
    assert len(second[b"error"]) == 2000


async def test_ensure_group_twice_keeps_the_group_where_it_is(bus: Bus) -> None:
    await bus.ensure_group(STREAM, "reader")
    await bus.publish(STREAM, events("g", 1)[0])
    await bus.redis.xreadgroup("reader", "c1", {bus.key(STREAM): ">"})
    await asyncio.gather(bus.ensure_group(STREAM, "reader"), bus.ensure_group(STREAM, "reader"))
    assert (await bus.redis.xinfo_groups(bus.key(STREAM)))[0]["pending"] == 1


async def group_names(bus: Bus, stream: StreamSpec) -> set[str]:
    return {g["name"].decode() for g in await bus.redis.xinfo_groups(bus.key(stream))}


async def read_all(bus: Bus, stream: StreamSpec, group: str) -> list[str]:
    reply = await bus.redis.xreadgroup(group, "c2", {bus.key(stream): ">"}, count=100)
    return [entry_id.decode() for entry_id, _ in reply[0][1]] if reply else []


async def test_a_renamed_group_goes_on_where_the_old_one_stood_and_the_old_one_goes(bus: Bus) -> None:
    await bus.ensure_group(STREAM, "aiops-consumers")
    ids = [await bus.publish(STREAM, e) for e in events("m", 10)]
    await bus.redis.xreadgroup("aiops-consumers", "c1", {bus.key(STREAM): ">"}, count=6)
    await bus.redis.xack(bus.key(STREAM), "aiops-consumers", *ids[:4])  # 5 and 6 pending, 7-10 not delivered
    assert await bus.rename_group(STREAM, "aiops-consumers", "alerts-store")
    assert await group_names(bus, STREAM) == {"alerts-store"}  # the orphan no longer counts in the backlog guard
    assert await read_all(bus, STREAM, "alerts-store") == ids[4:]  # the pending ones again, then the unread
    assert not await bus.rename_group(STREAM, "aiops-consumers", "alerts-store")  # the next start: nothing to do


async def test_a_group_with_nothing_pending_keeps_its_position_and_its_lag(bus: Bus) -> None:
    await bus.ensure_group(STREAM, "old")
    await bus.publish_many(STREAM, events("m", 3))
    read = await bus.redis.xreadgroup("old", "c1", {bus.key(STREAM): ">"})
    await bus.redis.xack(bus.key(STREAM), "old", *(entry_id for entry_id, _ in read[0][1]))
    later = await bus.publish_many(STREAM, events("m", 2))
    assert await bus.rename_group(STREAM, "old", "new")
    (group,) = await bus.redis.xinfo_groups(bus.key(STREAM))
    assert (group["name"], group["lag"], group["pending"]) == (b"new", 2, 0)  # the backlog guard reads it exactly
    assert await read_all(bus, STREAM, "new") == later


async def test_renaming_when_the_new_group_exists_only_removes_the_old_one(bus: Bus) -> None:
    """An older worker started after the rename recreated its group: the next rename just takes it away."""
    await bus.ensure_group(STREAM, "new")
    await bus.publish(STREAM, events("m", 1)[0])
    await bus.ensure_group(STREAM, "old")
    assert await bus.rename_group(STREAM, "old", "new")
    assert await group_names(bus, STREAM) == {"new"}
    assert len(await read_all(bus, STREAM, "new")) == 1
    assert not await bus.rename_group(StreamSpec("aiops:test:none", maxlen=10), "old", "new")  # no stream at all


def test_the_id_just_before_an_entry_crosses_milliseconds() -> None:
    assert (bus_module._just_before("1700-5"), bus_module._just_before("1700-0")) == ("1700-4", f"1699-{2**64 - 1}")


async def test_metric_lines_travel_raw_beside_the_envelope_and_read_back_whole(bus: Bus) -> None:
    lines = 'cpu,host=a usage_idle=90 1\nlog,host=a msg="say \\"hi\\"" 2'
    envelope = Envelope(type="metrics.received", source="t", payload={"lines": lines, "count": 2})
    await bus.publish(STREAM, envelope)
    ((_, fields),) = await bus.redis.xrange(bus.key(STREAM))
    assert fields[b"payload.lines"] == lines.encode()  # as they came: no JSON escapes to add and take away
    assert b"lines" not in fields[b"envelope"]
    assert Envelope.from_entry(fields) == envelope
    assert Envelope.from_entry({b"envelope": envelope.model_dump_json().encode()}) == envelope  # as entries were
    with pytest.raises(ValueError):  # not UTF-8: an undecodable entry, dead-lettered by its consumers
        Envelope.from_entry({**fields, b"payload.lines": b"\xff"})
    with pytest.raises(UnencodableEnvelope):
        Envelope(type="metrics.received", source="t", payload={"lines": "\ud800", "count": 1}).to_entry()


async def test_big_entries_are_published_without_a_script_and_small_ones_with_one(bus: Bus) -> None:
    """Redis's Lua hashes every byte of a script's arguments: a batch of big entries goes as MULTI/EXEC of XADDs
    instead, as whole and in order (MONITOR shows which commands reached Redis)."""
    big = "cpu,host=a usage_idle=90 1\n" * 1_000
    batches = [[Envelope(type="metrics.received", source="t", payload={"lines": big, "count": 1_000})] * 3,
               events("small", 3)]
    async with bus.redis.monitor() as monitor:
        for batch in batches:
            ids = await bus.publish_many(STREAM, batch)
            entries = await bus.redis.xrange(bus.key(STREAM), min=ids[0], max=ids[-1])
            assert [entry_id.decode() for entry_id, _ in entries] == ids
            assert [Envelope.from_entry(fields) for _, fields in entries] == batch
        commands: list[str] = []
        async with asyncio.timeout(10):  # MONITOR has shown them all by then: fail rather than wait for ever
            while not commands or commands[-1] != "EVALSHA":
                command = (await monitor.next_command())["command"]
                if bus.key(STREAM) in command and command.startswith(("XADD", "EVALSHA")):
                    commands.append(command.split()[0])
    assert commands == ["XADD", "XADD", "XADD", "EVALSHA"]
