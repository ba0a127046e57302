"""publish / publish_many: count what each source published, carry the publisher's trace context, and refuse
to publish where trimming would delete entries a consumer group has not handled."""

import pytest

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY

from aiops_contracts import bus
from aiops_contracts.bus import StreamBacklogFull, ensure_group, publish, publish_many
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import StreamSpec

STREAM = StreamSpec("aiops:test:bus", maxlen=1_000)


def published(source: str) -> float:
    return REGISTRY.get_sample_value("aiops_events_published_total", {"stream": STREAM.name, "source": source}) or 0.0


def events(source: str, count: int) -> list[Envelope]:
    return [Envelope(type="test.published", source=source) for _ in range(count)]


async def test_published_events_are_counted_per_source(redis) -> None:
    before_a, before_b = published("a"), published("b")
    await publish_many(redis, STREAM, [*events("a", 3), *events("b", 1)])
    await publish(redis, STREAM, events("a", 1)[0])
    assert (published("a") - before_a, published("b") - before_b) == (4, 1)


async def test_trace_context_is_carried_only_inside_a_trace(redis) -> None:
    outside, inside, own = events("t", 1)[0], events("t", 1)[0], events("t", 1)[0]
    own.trace = {"traceparent": "00-11111111111111111111111111111111-2222222222222222-01"}
    await publish(redis, STREAM, outside)
    span = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1)))
    with trace.use_span(span):
        await publish_many(redis, STREAM, [inside, own])
    stored = [Envelope.from_entry(fields) for _, fields in await redis.xrange(STREAM.name)]
    assert stored[0].trace == {}
    assert stored[1].trace["traceparent"] == f"00-{0xABC:032x}-{0xDEF:016x}-01"
    assert stored[2].trace == own.trace  # a worker re-publishing keeps the event's own trace


async def test_a_backlogged_group_refuses_publishing_until_it_catches_up(redis, monkeypatch) -> None:
    monkeypatch.setattr(bus, "BACKLOG_CHECK_S", 0.0)  # read the backlog on every publish
    small = StreamSpec("aiops:test:backlog", maxlen=10)
    await ensure_group(redis, small.name, "slow")
    await publish_many(redis, small, events("s", 8))
    await publish(redis, small, events("s", 1)[0])  # 8 outstanding: below 90 % of MAXLEN
    with pytest.raises(StreamBacklogFull):
        await publish(redis, small, events("s", 1)[0])  # 9 outstanding: the next trim could drop unread ones
    assert await redis.xlen(small.name) == 9  # nothing was trimmed, nothing half-written

    read = await redis.xreadgroup("slow", "c1", {small.name: ">"}, count=5)
    with pytest.raises(StreamBacklogFull):  # delivered is not done: pending entries still count
        await publish(redis, small, events("s", 1)[0])
    await redis.xack(small.name, "slow", *(entry_id for entry_id, _ in read[0][1]))
    await publish_many(redis, small, events("s", 3))  # 4 + 3 outstanding
