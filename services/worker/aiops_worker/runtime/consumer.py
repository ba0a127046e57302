"""Consumer-group reading with at-least-once delivery and idempotent handlers.

A task subclasses StreamConsumer, names its stream and payload model, and implements `handle(batch)`,
which must make its effects durable before returning. It reads in the consumer group named after it (`name`).
The base class:
- first renames the group an earlier release read with (`former_group`), keeping its position;
- reads its own pending entries first (a restarted worker resumes at once), then new ones (`>`);
- takes over entries another consumer left idle too long (XAUTOCLAIM);
- hands `handle` each envelope once per batch: a later copy of an id already in the batch is acked unhandled;
- acks only after `handle` returned;
- with `batches_in_flight` above 1, reads the next batch and starts handling it while earlier ones are still being
  handled (each acked once its own `handle` returned), so a store that takes writes best several at a time never
  waits for the reads, decoding and acks in between;
- retries a batch while a store is unreachable, without counting that against the entries;
- on other failures retries entry by entry, and after `stream_max_deliveries` deliveries moves the
  entry to `<stream>:dead` with the error; undecodable entries go there at once.
"""

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

from aiops_contracts.bus import DeadLetter, StreamBacklogFull
from aiops_contracts.envelope import ENTRY_FIELD, RAW_FIELDS, Envelope
from aiops_contracts.streams import StreamSpec
from aiops_contracts.timing import Backoff, sleep_or_stop
from aiops_contracts.tracing import consumer_span
from aiops_worker.runtime import instrumentation
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

# Errors that mean "a store is down", not "this entry is bad": the batch waits and is tried again.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    StreamBacklogFull,  # a downstream stream is full of unhandled entries: wait for its consumers
)


class StoreUnavailable(Exception):
    """Raised by a handler when a dependency answers but cannot take writes now (e.g. HTTP 503)."""


class _ShutdownRequested(Exception):
    """Stop arrived while a batch waited for a store: its entries stay pending for the next start."""


@dataclass
class Delivery(Generic[P]):
    entry_id: str
    envelope: Envelope
    payload: P
    # The envelope's JSON as its publisher wrote it, when the entry holds all of it (no raw payload members): for
    # a consumer that keeps the envelope as it came (the archive) without serialising it again.
    document: bytes | None = None


class StreamConsumer(ABC, Generic[P]):
    name: ClassVar[str]  # task name: logs, metrics and the idempotency ledger use it
    stream: ClassVar[StreamSpec]
    payload_model: ClassVar[type[BaseModel]]
    # The group an earlier release read this stream with: renamed to `name` at start (Bus.rename_group).
    former_group: ClassVar[str | None] = None
    scales_out: ClassVar[bool] = False  # True: stateless, may run on any number of replicas (main.runs_here)
    # After a short batch (fewer entries than a read takes, and lingers_after agrees) the next one is gathered for up
    # to this long, and handled as soon as it is full: fewer, bigger transactions for tasks whose results may lag a
    # little (incident grouping works in windows of minutes), leaving CPU to the others, with no pause once entries
    # come faster than that (a pause left the metrics writer's InfluxDB idle while a burst filled the stream).
    linger_s: ClassVar[float] = 0.0
    # False: the payload's raw members (aiops_contracts.envelope.RAW_FIELDS) come as the bytes read, not decoded.
    decodes_raw_members: ClassVar[bool] = True
    # Batches handled at once: above 1, `handle` runs for several batches concurrently (a task whose batches are
    # independent and whose handler bounds what it sends to its store across them, as the metrics writer does).
    # Entries left pending by a restart are handled one batch at a time. A task may set it per instance.
    batches_in_flight: int = 1

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.batch_size = min(ctx.settings.stream_batch_size, self.stream.max_read or ctx.settings.stream_batch_size)
        self.redis = ctx.redis
        self.bus = ctx.bus
        self.stream_key = ctx.bus.key(self.stream)
        self.group_name = self.name  # the group is named after the task that reads with it
        self.consumer_name = ctx.settings.worker_name
        self._next_claim = 0.0
        self._backlog_done = False  # own pending entries (from before a restart) re-read yet?
        # The batches in flight (batches_in_flight above 1) -> when their entries were read (monotonic)
        self._handling: dict[asyncio.Task[None], float] = {}

    @abstractmethod
    async def handle(self, batch: list[Delivery[P]]) -> None:
        """Make the batch's effects durable (idempotently). Raise to have it retried."""

    def lingers_after(self, batch: list[Delivery[P]]) -> bool:
        """Whether to pause `linger_s` after this batch, read while caught up: by what it holds (default: always)."""
        return True

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        """Consume until `stop` is set; with `drain`, return once nothing is left to read."""
        if self.former_group and await self.bus.rename_group(self.stream, self.former_group, self.group_name):
            log.info("consumer group renamed", extra={"stream": self.stream.name, "group": self.group_name,
                                                    "former_group": self.former_group})
        await self.bus.ensure_group(self.stream, self.group_name)
        self._backlog_done = False
        gather_until = 0.0  # after a short batch: the next one is gathered until then, or until it is full
        try:
            while not stop.is_set():
                read_at = time.monotonic()
                entries = await self._next_entries(block=not drain)
                if entries:
                    batch = await self._decoded(entries)
                    if time.monotonic() < gather_until:
                        entries, batch = await self._gathered(entries, batch, gather_until)
                    batch = await self._once_each(batch)
                    if batch and self.batches_in_flight > 1 and self._backlog_done:
                        await self._start(batch, read_at, stop)
                    elif batch:
                        await self._handle_and_ack(batch, stop)
                    caught_up = len(entries) < self.batch_size
                    if self.linger_s and not drain and caught_up and self.lingers_after(batch):
                        gather_until = time.monotonic() + self.linger_s
                elif drain:
                    break
            await self._finish()
        except _ShutdownRequested:
            await self._finish(raises=False)
        except asyncio.CancelledError:
            for batch_task in self._handling:
                batch_task.cancel()
            await self._finish(raises=False)  # unwound before whoever cancelled closes the pools they use
            raise
        except Exception:
            await self._finish(raises=False)
            raise

    async def _start(self, batch: list[Delivery[P]], read_at: float, stop: asyncio.Event) -> None:
        """Start handling the batch beside those in flight; returns once fewer than `batches_in_flight` are."""
        self._handling[asyncio.create_task(self._handle_and_ack(batch, stop))] = read_at
        while len(self._handling) >= self.batches_in_flight:
            done, _ = await asyncio.wait(self._handling, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                del self._handling[finished]
                finished.result()  # a batch's error (or _ShutdownRequested) stops the loop

    async def _finish(self, raises: bool = True) -> None:
        """Wait for the batches in flight; with `raises`, raise the first error one of them ended with, else log
        them (the loop is already ending for another reason)."""
        results = await asyncio.gather(*self._handling, return_exceptions=True)
        self._handling.clear()
        errors = [result for result in results if isinstance(result, Exception)
                  and not isinstance(result, _ShutdownRequested)]
        for error in errors[1:] if raises else errors:  # (the first one raised goes up to the supervisor)
            log.error("a batch in flight failed", exc_info=error, extra={"task": self.name})
        if raises and errors:
            raise errors[0]

    def _claim_would_take_own(self) -> bool:
        """Whether a batch in flight was read so long ago (waiting for its store) that XAUTOCLAIM would hand its
        entries over again, and count a delivery each time."""
        oldest = min(self._handling.values(), default=time.monotonic())
        return time.monotonic() - oldest >= self.settings.stream_claim_idle_ms / 1000

    async def _next_entries(self, block: bool) -> list[tuple[str, dict[bytes, bytes]]]:
        if not self._backlog_done:
            entries = await self._read("0", block=False)
            if entries:
                return entries
            self._backlog_done = True
        if time.monotonic() >= self._next_claim and not self._claim_would_take_own():
            self._next_claim = time.monotonic() + self.settings.stream_claim_idle_ms / 2000
            claimed = await self._claim_idle()
            if claimed:
                return claimed
        return await self._read(">", block=block)

    async def _gathered(self, entries: list[tuple[str, dict[bytes, bytes]]], batch: list[Delivery[P]],
                        until: float) -> tuple[list[tuple[str, dict[bytes, bytes]]], list[Delivery[P]]]:
        """The entries and batch with the stream's next entries added as they come, until `until` (monotonic) or
        until the batch is full (a read's worth of entries, or lingers_after says so)."""
        size = self.batch_size
        while len(entries) < size and self.lingers_after(batch):
            left_ms = int((until - time.monotonic()) * 1000)
            if left_ms < 1:  # (a block of 0 would wait for ever)
                break
            more = await self._read(">", block=True, count=size - len(entries), block_ms=left_ms)
            if not more:
                break
            entries, batch = entries + more, batch + await self._decoded(more)
        return entries, batch

    async def _read(self, start: str, block: bool, count: int | None = None,
                    block_ms: int | None = None) -> list[tuple[str, dict[bytes, bytes]]]:
        reply = await self.redis.xreadgroup(
            self.group_name,
            self.consumer_name,
            {self.stream_key: start},
            count=count or self.batch_size,
            block=(block_ms or self.settings.stream_block_ms) if block else None,
        )
        if not reply:
            return []
        return [(_text(entry_id), fields or {}) for entry_id, fields in reply[0][1]]

    async def _claim_idle(self) -> list[tuple[str, dict[bytes, bytes]]]:
        _, entries, _deleted = await self.redis.xautoclaim(
            self.stream_key,
            self.group_name,
            self.consumer_name,
            min_idle_time=self.settings.stream_claim_idle_ms,
            start_id="0-0",
            count=self.batch_size,
        )
        claimed = [(_text(entry_id), fields) for entry_id, fields in entries if fields]
        if claimed:
            instrumentation.ENTRIES_RECLAIMED.labels(self.stream.name, self.group_name).inc(len(claimed))
            log.warning("entries reclaimed", extra={"stream": self.stream.name, "count": len(claimed)})
        return claimed

    async def _decoded(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> list[Delivery[P]]:
        """The entries that decode, as deliveries; acks those trimmed away and dead-letters the undecodable."""
        batch: list[Delivery[P]] = []
        for entry_id, fields in entries:
            if not fields:  # trimmed away while pending: nothing left to handle
                await self._ack([entry_id])
                continue
            try:
                envelope = Envelope.from_entry(fields, text=self.decodes_raw_members)
                payload = self.payload_model.model_validate(envelope.payload)
            except (ValueError, ValidationError, orjson.JSONDecodeError) as exc:
                await self._dead_letter(entry_id, fields, f"undecodable entry: {exc}")
                continue
            whole = RAW_FIELDS.keys().isdisjoint(fields)
            batch.append(Delivery(entry_id, envelope, payload, fields[ENTRY_FIELD] if whole else None))  # type: ignore[arg-type]
        return batch

    async def _once_each(self, batch: list[Delivery[P]]) -> list[Delivery[P]]:
        """The batch with each envelope once: a later copy of an envelope already in it (the same id published
        again, as the file tail does after a crash, or a webhook redelivery) is acked unhandled. Handlers claim
        their ids as a set (runtime/idempotency.py), so both copies would count as first-time."""
        seen: set[str] = set()
        once: list[Delivery[P]] = []
        copies: list[str] = []
        for delivery in batch:
            if delivery.envelope.id in seen:
                copies.append(delivery.entry_id)
            else:
                seen.add(delivery.envelope.id)
                once.append(delivery)
        if copies:
            await self._ack(copies)
        return once

    async def _handle_and_ack(self, batch: list[Delivery[P]], stop: asyncio.Event) -> None:
        started = time.perf_counter()
        with consumer_span(f"{self.name} handle", [d.envelope.trace for d in batch]):
            try:
                await self._handle_until_stores_answer(batch, stop)
            except _ShutdownRequested:
                raise
            except Exception:
                log.exception("batch failed, retrying entry by entry", extra={"stream": self.stream.name})
                await self._handle_one_by_one(batch, stop)
                return
            await self._ack([d.entry_id for d in batch])
        self._observe(batch, started)

    async def _handle_until_stores_answer(self, batch: list[Delivery[P]], stop: asyncio.Event) -> None:
        """Retry while a store is unreachable (back-off 1 s doubling to 30 s); other errors propagate."""
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                await self.handle(batch)
                return
            except (StoreUnavailable, *TRANSIENT_ERRORS) as exc:
                if stop.is_set():
                    raise _ShutdownRequested from exc
                instrumentation.STORE_UNAVAILABLE.labels(self.name).inc()
                log.warning("store unavailable, batch will be retried", extra={"task": self.name, "error": repr(exc)})
                await sleep_or_stop(stop, backoff.next())

    async def _handle_one_by_one(self, batch: list[Delivery[P]], stop: asyncio.Event) -> None:
        for delivery in batch:
            try:
                await self._handle_until_stores_answer([delivery], stop)
            except _ShutdownRequested:
                raise
            except Exception as exc:
                instrumentation.ENTRIES_FAILED.labels(self.stream.name, self.group_name).inc()
                await self._failed(delivery, exc)
                continue
            await self._ack([delivery.entry_id])

    async def _failed(self, delivery: Delivery[P], exc: Exception) -> None:
        """Leave a failing entry pending (XAUTOCLAIM retries it later) until it used up its deliveries."""
        deliveries = await self._delivery_count(delivery.entry_id)
        log.error(
            "entry failed",
            extra={"stream": self.stream.name, "event_id": delivery.envelope.id, "deliveries": deliveries,
                   "error": repr(exc)},
        )
        if deliveries >= self.settings.stream_max_deliveries:
            await self._dead_letter(delivery.entry_id, delivery.envelope.to_entry(), repr(exc))

    async def _delivery_count(self, entry_id: str) -> int:
        pending = await self.redis.xpending_range(self.stream_key, self.group_name, entry_id, entry_id, 1)
        return int(pending[0]["times_delivered"]) if pending else 0

    async def _dead_letter(self, entry_id: str, fields: dict[Any, Any], error: str) -> None:
        """Copy the entry to the dead-letter stream with the error, then ack it, atomically."""
        await self.bus.dead_letter(self.stream, self.group_name, DeadLetter(entry_id, fields, error), ack=True)
        instrumentation.ENTRIES_DEAD.labels(self.stream.name).inc()
        log.error("entry dead-lettered", extra={"stream": self.stream.name, "entry_id": entry_id, "error": error[:500]})

    async def dead_letter_part(self, entry_id: str, part: Envelope, error: str) -> None:
        """Dead-letter one part of an entry (e.g. one line of many) as an envelope of its own; the entry
        itself is handled and acked as usual."""
        dead = DeadLetter(entry_id, part.to_entry(), error)
        await self.bus.dead_letter(self.stream, self.group_name, dead, ack=False)
        instrumentation.ENTRIES_DEAD.labels(self.stream.name).inc()
        log.error("part of an entry dead-lettered", extra={"stream": self.stream.name, "entry_id": entry_id,
                                                            "event_id": part.id, "error": error[:500]})

    async def _ack(self, entry_ids: list[str]) -> None:
        # Shielded: a stop arriving now must not lose the ack of work that is already durable.
        await asyncio.shield(self.redis.xack(self.stream_key, self.group_name, *entry_ids))
        instrumentation.ENTRIES_HANDLED.labels(self.stream.name, self.group_name).inc(len(entry_ids))

    def _observe(self, batch: list[Delivery[P]], started: float) -> None:
        instrumentation.BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        now = time.time()
        latency = instrumentation.EVENT_LATENCY.labels(self.name)
        for delivery in batch:
            latency.observe(max(0.0, now - delivery.envelope.time.timestamp()))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
