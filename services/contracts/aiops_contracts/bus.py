"""Publishing and group helpers: the only place that calls XADD."""

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from aiops_contracts import metrics
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import StreamSpec
from aiops_contracts.tracing import current_trace_carrier


async def publish(redis: Redis, stream: StreamSpec, envelope: Envelope, maxlen_factor: float = 1.0) -> str:
    """Append one envelope; returns the stream entry id."""
    _with_trace([envelope])
    entry_id = await redis.xadd(
        stream.name, envelope.to_entry(), maxlen=_maxlen(stream, maxlen_factor), approximate=True
    )
    _count_published(stream, [envelope])
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


async def publish_many(
    redis: Redis, stream: StreamSpec, envelopes: Sequence[Envelope], maxlen_factor: float = 1.0
) -> list[str]:
    """Append several envelopes in one round trip (MULTI/EXEC, so a batch lands whole or not at all)."""
    if not envelopes:
        return []
    maxlen = _maxlen(stream, maxlen_factor)
    _with_trace(envelopes)
    async with redis.pipeline(transaction=True) as pipe:
        for envelope in envelopes:
            pipe.xadd(stream.name, envelope.to_entry(), maxlen=maxlen, approximate=True)
        ids = await pipe.execute()
    _count_published(stream, envelopes)
    return [i.decode() if isinstance(i, bytes) else i for i in ids]


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing; reading starts at the stream's beginning."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


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
        metrics.EVENTS_PUBLISHED.labels(stream.name, source).inc(count)


def _maxlen(stream: StreamSpec, factor: float) -> int:
    return max(1, int(stream.maxlen * factor))
