"""The bus: one `Bus(redis, settings)` per process, built at start (the API's lifespan, the worker's main) and
passed down. Every XADD goes through it (publishing and dead-lettering: this is the only place that calls
XADD), every consumer group is created through it, and it owns the live channel.

XADD trims each stream to about its MAXLEN x STREAM_MAXLEN_FACTOR. Trimming must only ever drop entries every
consumer group is done with, so a publish into a stream whose slowest group still has most of MAXLEN unread
or unacked is refused with `StreamBacklogFull`: the API answers 503 (push clients retry later) and a worker
task retries its batch, instead of Redis silently deleting accepted events.

BUS_PREFIX goes before the name of every stream, dead-letter stream, the live channel and the queue of
connection tests of polled sources, so a replay or a test runs the same code on streams of its own (a consumer
group belongs to its stream and needs none), and deployments sharing a Redis take no connection test of the
other's. Pub/sub channels are shared by every database index of a Redis, so each test run takes a prefix of its own.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ResponseError

from aiops_contracts import instrumentation
from aiops_contracts.envelope import ENTRY_FIELD, Envelope
from aiops_contracts.settings import CommonSettings
from aiops_contracts.streams import LIVE_CHANNEL, POLLER_CHECKS_KEY, StreamSpec
from aiops_contracts.tracing import current_trace_carrier

BACKLOG_LIMIT = 0.9  # share of MAXLEN that a group may have outstanding before publishing is refused
BACKLOG_CHECK_S = 1.0  # how long one XINFO GROUPS reading is trusted (one per stream and Bus per second)
DEAD_LETTER_FIELDS = (b"error", b"original_id", b"group")  # what dead-lettering adds to an entry's fields
# XADD of each entry to KEYS[1], trimmed to about ARGV[1]; from ARGV[2] on, each entry is its number of fields,
# then its fields and values (_xadd_args). One command for a batch, atomic as MULTI/EXEC was: a pipelined XADD per
# entry cost the client 4x the CPU (packing each command, parsing each QUEUED reply: ~40 µs an envelope, in the
# API and the alert store alike).
_XADD_MANY = """local ids, i = {}, 2
while i <= #ARGV do
  local fields = tonumber(ARGV[i])
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 1, i + 2 * fields))
  i = i + 1 + 2 * fields
end
return ids"""
# Redis's Lua interns every string a script is given, hashing each of its bytes (~2 ns a byte in the server, one
# thread): a metrics entry of a thousand lines cost Redis 0.23 µs a line that way, five times its XADD. Batches whose
# entries hold more than this many bytes on average go as MULTI/EXEC of one XADD each instead (as atomic), where the
# client's cost per entry is the smaller one.
_SCRIPT_MAX_ENTRY_BYTES = 16_384


class StreamBacklogFull(Exception):
    """A consumer group of the stream is so far behind that trimming would delete entries it has not handled."""

    def __init__(self, stream: str, backlog: int) -> None:
        super().__init__(f"stream {stream} has {backlog} entries not yet handled by a consumer group; retry later")
        self.stream = stream


@dataclass(frozen=True)
class Encoded:
    """An envelope and its stream entry, encoded once: a webhook measures its request's entries, then publishes
    them (api webhooks/expansion.py)."""

    envelope: Envelope
    entry: dict[bytes, bytes]

    @property
    def whole(self) -> bool:
        """Whether the entry's envelope field holds all of the envelope (no payload member travels beside it)."""
        return self.entry.keys() == {ENTRY_FIELD}


@dataclass(frozen=True)
class DeadLetter:
    """An entry a group gives up on, or one part of it (one line of many), with the reason."""

    entry_id: str
    fields: Mapping[Any, Any]
    error: str


class Bus:
    def __init__(self, redis: Redis, settings: CommonSettings) -> None:
        self.redis = redis
        self.prefix = settings.bus_prefix
        self.maxlen_factor = settings.stream_maxlen_factor
        self.live_channel = self.prefix + LIVE_CHANNEL
        self.poller_checks_key = self.prefix + POLLER_CHECKS_KEY  # the API asks, a worker answers
        self._backlog_readings: dict[str, tuple[float, int]] = {}  # key -> (monotonic time read, slowest backlog)
        self._xadd_many = redis.register_script(_XADD_MANY)

    def key(self, stream: StreamSpec) -> str:
        """The stream's Redis key."""
        return self.prefix + stream.name

    def dead_letter_key(self, stream: StreamSpec) -> str:
        return self.prefix + stream.dead_letter

    def maxlen(self, stream: StreamSpec) -> int:
        return max(1, int(stream.maxlen * self.maxlen_factor))

    async def publish(self, stream: StreamSpec, envelope: Envelope) -> str:
        """Append one envelope; returns the stream entry id."""
        (entry_id,) = await self.publish_many(stream, [envelope])
        return entry_id

    async def publish_many(self, stream: StreamSpec, envelopes: Sequence[Envelope]) -> list[str]:
        """Append several envelopes in one round trip, atomically (one script, or MULTI/EXEC for big entries: no other
        command runs between their XADDs)."""
        return await self.publish_encoded(stream, list(encode(envelopes)))

    async def publish_encoded(self, stream: StreamSpec, encoded: Sequence[Encoded]) -> list[str]:
        """publish_many for envelopes already encoded (`encode`)."""
        if not encoded:
            return []
        key, maxlen = self.key(stream), self.maxlen(stream)
        await self._refuse_if_backlogged(key, maxlen)
        entries: list[dict[Any, Any]] = [item.entry for item in encoded]  # (xadd's dict type is redis-py's own)
        if sum(len(value) for entry in entries for value in entry.values()) > _SCRIPT_MAX_ENTRY_BYTES * len(entries):
            async with self.redis.pipeline(transaction=True) as pipe:
                for entry in entries:
                    pipe.xadd(key, entry, maxlen=maxlen, approximate=True)
                ids = await pipe.execute()
        else:
            ids = await self._xadd_many(keys=[key], args=[maxlen, *_xadd_args(entries)])
        _count_published(stream, [item.envelope for item in encoded])
        return [_text(i) for i in ids]

    async def publish_and_broadcast(self, stream: StreamSpec, envelopes: Sequence[Envelope]) -> None:
        """Append envelopes to `stream`, then publish each on the live channel for every API replica's WebSocket
        clients (pub/sub is at-most-once: the stream is the durable record). The live message reuses the JSON the
        stream entries hold (a second encoding was a tenth of the alert store's announcing)."""
        if not envelopes:
            return
        encoded = list(encode(envelopes))
        await self.publish_encoded(stream, encoded)
        await self._publish_live([item.entry[ENTRY_FIELD] if item.whole else item.envelope.model_dump_json().encode()
                                  for item in encoded])

    async def broadcast(self, envelopes: Sequence[Envelope]) -> None:
        """Publish envelopes on the live channel only (changes whose durable record is a table, not a stream)."""
        await self._publish_live([e.model_dump_json().encode() for e in envelopes])

    async def _publish_live(self, documents: list[bytes]) -> None:
        """One message for all the envelopes' JSON documents, a line each (`live_envelopes` splits it): a PUBLISH
        per envelope cost the alert store a third of its CPU at a few thousand alerts a second, and every API
        replica as much again to read them."""
        if documents:
            await self.redis.publish(self.live_channel, b"\n".join(documents))

    @asynccontextmanager
    async def live(self) -> AsyncIterator[PubSub]:
        """A pub/sub connection subscribed to the live channel (subscribe confirmations left out)."""
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.live_channel)
            yield pubsub

    async def ensure_group(self, stream: StreamSpec, group: str) -> None:
        """Create the consumer group (and the stream) if missing; reading starts at the stream's beginning."""
        try:
            await self.redis.xgroup_create(self.key(stream), group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def rename_group(self, stream: StreamSpec, old: str, new: str) -> bool:
        """Give a consumer group a new name (a release renamed it); False when there was no `old` group.

        The new group starts where the old one stands, so nothing is skipped, and the old one goes: an orphan
        would keep counting in the backlog guard until publishing answers 503. Entries the old group had
        delivered but not acked are delivered again: the new group then starts just before the oldest of them
        (handlers are idempotent, so the acked entries after it are only handled once more), and Redis works
        out its lag afresh once it reaches the end of the stream (the backlog guard counts pending meanwhile).
        Run before `ensure_group`, which would create the new group at the stream's beginning."""
        key = self.key(stream)
        try:
            groups = {_text(g["name"]): g for g in await self.redis.xinfo_groups(key)}
        except ResponseError:  # no such stream: no group either
            return False
        if old not in groups:
            return False
        pending = await self.redis.xpending(key, old)
        if pending["pending"]:
            start, entries_read = _just_before(_text(pending["min"])), None
        else:
            start, entries_read = _text(groups[old]["last-delivered-id"]), groups[old].get("entries-read")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xgroup_create(key, new, id=start, entries_read=entries_read)
            pipe.xgroup_destroy(key, old)
            created, _ = await pipe.execute(raise_on_error=False)
        if isinstance(created, ResponseError) and "BUSYGROUP" not in str(created):
            raise created  # BUSYGROUP: another replica renamed it first, or the new group already reads
        return True

    async def dead_letter(self, stream: StreamSpec, group: str, dead: DeadLetter, *, ack: bool) -> None:
        """Copy the entry to the stream's dead-letter stream with the error and the group; with `ack`, ack it in
        the same transaction (shielded: a stop arriving now must not lose the one without the other)."""
        record = {**dead.fields, b"error": dead.error[:2000].encode(), b"original_id": dead.entry_id.encode(),
                  b"group": group.encode()}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_letter_key(stream), record, maxlen=self.maxlen(stream), approximate=True)
            if ack:
                pipe.xack(self.key(stream), group, dead.entry_id)
            await asyncio.shield(pipe.execute())

    async def dead_letters(self, stream: StreamSpec, *, before: str | None, count: int) -> list[tuple[str, dict[bytes, bytes]]]:
        """The stream's dead letters, newest first, older than entry id `before` when given."""
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrevrange(  # type: ignore[assignment]  # typed loosely by redis-py
            self.dead_letter_key(stream), max=f"({before}" if before else "+", count=count)
        return [(_text(entry_id), fields) for entry_id, fields in entries]

    async def dead_letter_entry(self, stream: StreamSpec, entry_id: str) -> dict[bytes, bytes] | None:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(  # type: ignore[assignment]  # typed loosely by redis-py
            self.dead_letter_key(stream), min=entry_id, max=entry_id, count=1)
        return entries[0][1] if entries else None

    async def redrive(self, stream: StreamSpec, entry_id: str) -> str | None:
        """Move a dead letter back onto its stream, without the fields dead-lettering added, in one MULTI; returns
        the new entry id, None when there is no such dead letter. Every group of the stream reads it again (the
        handlers are idempotent: those that handled it before change nothing)."""
        fields = await self.dead_letter_entry(stream, entry_id)
        if fields is None:
            return None
        key, maxlen = self.key(stream), self.maxlen(stream)
        await self._refuse_if_backlogged(key, maxlen)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {k: v for k, v in fields.items() if k not in DEAD_LETTER_FIELDS}, maxlen=maxlen,
                      approximate=True)
            pipe.xdel(self.dead_letter_key(stream), entry_id)
            new_id, _ = await pipe.execute()
        return _text(new_id)

    async def _refuse_if_backlogged(self, key: str, maxlen: int) -> None:
        now = time.monotonic()
        reading = self._backlog_readings.get(key)
        if reading is None or now - reading[0] > BACKLOG_CHECK_S:
            reading = self._backlog_readings[key] = (now, await self._slowest_backlog(key))
        if reading[1] >= BACKLOG_LIMIT * maxlen:
            raise StreamBacklogFull(key, reading[1])

    async def _slowest_backlog(self, key: str) -> int:
        """Entries the slowest group has not acked yet: not delivered (lag) plus delivered but pending."""
        try:
            groups = await self.redis.xinfo_groups(key)
        except ResponseError:  # no such stream yet: nothing outstanding
            return 0
        # Redis reports lag as nil when it cannot tell (e.g. entries deleted mid-stream): count only pending then.
        return max((int(g.get("lag") or 0) + int(g.get("pending") or 0) for g in groups), default=0)


def live_envelopes(message: bytes) -> list[str]:
    """The JSON texts of the envelopes in one live-channel message (JSON text never holds a raw newline)."""
    return message.decode().split("\n")


def encode(envelopes: Iterable[Envelope]) -> Iterator[Encoded]:
    """Each envelope with its stream entry, carrying the publisher's trace context when it has none (a worker
    re-publishing keeps its own); the context is read once, as the first envelope comes."""
    carrier = current_trace_carrier()
    for envelope in envelopes:
        if carrier:
            envelope.trace = envelope.trace or carrier
        yield Encoded(envelope, envelope.to_entry())


def _xadd_args(entries: Iterable[Mapping[bytes, bytes]]) -> list[Any]:
    """_XADD_MANY's arguments for the entries: each one's number of fields, then its fields and values."""
    args: list[Any] = []
    for entry in entries:
        args.append(len(entry))
        for field_and_value in entry.items():
            args.extend(field_and_value)
    return args


def _count_published(stream: StreamSpec, envelopes: Sequence[Envelope]) -> None:
    by_source: dict[str, int] = {}
    for envelope in envelopes:
        by_source[envelope.source] = by_source.get(envelope.source, 0) + 1
    for source, count in by_source.items():
        instrumentation.EVENTS_PUBLISHED.labels(stream.name, source).inc(count)


def _just_before(entry_id: str) -> str:
    """The stream id right before `entry_id` (ids are `<ms>-<seq>`)."""
    ms, seq = (int(part) for part in entry_id.split("-"))
    return f"{ms}-{seq - 1}" if seq else f"{ms - 1}-{2**64 - 1}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
