"""Publishing and group helpers: the only place that calls XADD.

XADD trims each stream to about its MAXLEN. Trimming must only ever drop entries every consumer group is done
with, so a publish into a stream whose slowest group still has most of MAXLEN unread or unacked is refused
with `StreamBacklogFull`: the API answers 503 (push clients retry later) and a worker task retries its batch,
instead of Redis silently deleting accepted events.
"""

import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from aiops_contracts import instrumentation
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LIVE_CHANNEL, StreamSpec
from aiops_contracts.tracing import current_trace_carrier

BACKLOG_LIMIT = 0.9  # share of MAXLEN that a group may have outstanding before publishing is refused
BACKLOG_CHECK_S = 1.0  # how long one XINFO GROUPS reading is trusted (one per stream and process per second)
_backlog_readings: dict[str, tuple[float, int]] = {}  # stream -> (monotonic time read, slowest group's backlog)


class StreamBacklogFull(Exception):
    """A consumer group of the stream is so far behind that trimming would delete entries it has not handled."""

    def __init__(self, stream: str, backlog: int) -> None:
        super().__init__(f"stream {stream} has {backlog} entries not yet handled by a consumer group; retry later")
        self.stream = stream


async def publish(redis: Redis, stream: StreamSpec, envelope: Envelope, maxlen_factor: float = 1.0) -> str:
    """Append one envelope; returns the stream entry id."""
    maxlen = _maxlen(stream, maxlen_factor)
    await _refuse_if_backlogged(redis, stream.name, maxlen)
    _with_trace([envelope])
    entry_id = await redis.xadd(stream.name, envelope.to_entry(), maxlen=maxlen, approximate=True)
    _count_published(stream, [envelope])
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


async def publish_many(
    redis: Redis, stream: StreamSpec, envelopes: Sequence[Envelope], maxlen_factor: float = 1.0
) -> list[str]:
    """Append several envelopes in one round trip (MULTI/EXEC, so a batch lands whole or not at all)."""
    if not envelopes:
        return []
    maxlen = _maxlen(stream, maxlen_factor)
    await _refuse_if_backlogged(redis, stream.name, maxlen)
    _with_trace(envelopes)
    async with redis.pipeline(transaction=True) as pipe:
        for envelope in envelopes:
            pipe.xadd(stream.name, envelope.to_entry(), maxlen=maxlen, approximate=True)
        ids = await pipe.execute()
    _count_published(stream, envelopes)
    return [i.decode() if isinstance(i, bytes) else i for i in ids]


async def publish_and_broadcast(
    redis: Redis, stream: StreamSpec, envelopes: Sequence[Envelope], maxlen_factor: float = 1.0
) -> None:
    """Append envelopes to `stream`, then publish each on the live channel for every API replica's WebSocket
    clients (pub/sub is at-most-once: the stream is the durable record)."""
    if not envelopes:
        return
    await publish_many(redis, stream, envelopes, maxlen_factor)
    async with redis.pipeline(transaction=False) as pipe:
        for envelope in envelopes:
            pipe.publish(LIVE_CHANNEL, envelope.model_dump_json())
        await pipe.execute()


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing; reading starts at the stream's beginning."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def _refuse_if_backlogged(redis: Redis, stream: str, maxlen: int) -> None:
    now = time.monotonic()
    reading = _backlog_readings.get(stream)
    if reading is None or now - reading[0] > BACKLOG_CHECK_S:
        reading = _backlog_readings[stream] = (now, await _slowest_backlog(redis, stream))
    if reading[1] >= BACKLOG_LIMIT * maxlen:
        raise StreamBacklogFull(stream, reading[1])


async def _slowest_backlog(redis: Redis, stream: str) -> int:
    """Entries the slowest group has not acked yet: not delivered (lag) plus delivered but pending."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream yet: nothing outstanding
        return 0
    # Redis reports lag as nil when it cannot tell (e.g. entries deleted mid-stream): count only pending then.
    return max((int(g.get("lag") or 0) + int(g.get("pending") or 0) for g in groups), default=0)


def _with_trace(envelopes: Sequence[Envelope]) -> None:
    """Carry the publisher's trace context in envelopes that have none (a worker re-publishing keeps its own)."""
    carrier = current_trace_carrier()
    if carrier:
        for envelope in envelopes:
            envelope.trace = envelope.trace or carrier


def _count_published(stream: StreamSpec, envelopes: Sequence[Envelope]) -> None:
    by_source: dict[str, int] = {}
    for envelope in envelopes:
        by_source[envelope.source] = by_source.get(envelope.source, 0) + 1
    for source, count in by_source.items():
        instrumentation.EVENTS_PUBLISHED.labels(stream.name, source).inc(count)


def _maxlen(stream: StreamSpec, factor: float) -> int:
    return max(1, int(stream.maxlen * factor))
