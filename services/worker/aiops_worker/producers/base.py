"""Producers: things the worker polls or listens to that become envelopes on a stream.

A producer names itself, its stream and its interval, and implements `poll()`; this base class owns
the loop, the publishing and the back-off. A batch that could not be published is kept and offered
again (nothing polled is dropped while Redis is down), and `published()` is called only once the
batch is in the stream: producers that remember a position (file offsets) save it there.
"""

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import ClassVar

from aiops_contracts.bus import publish_many
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import StreamSpec
from aiops_worker.runtime.consumer import TRANSIENT_ERRORS
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


class Producer(ABC):
    name: ClassVar[str]
    stream: ClassVar[StreamSpec]

    def __init__(self, ctx: WorkerContext, interval_s: float) -> None:
        self.ctx = ctx
        self.redis = ctx.redis
        self.interval_s = interval_s

    @abstractmethod
    async def poll(self) -> list[Envelope]:
        """What is new since the last call (may wait up to `interval_s` for something to arrive)."""

    async def published(self, envelopes: list[Envelope]) -> None:
        """Called after `envelopes` are in the stream."""

    async def run(self, stop: asyncio.Event) -> None:
        delay = 1.0
        pending: list[Envelope] = []
        while not stop.is_set():
            try:
                pending = pending or await self.poll()
                if pending:
                    await publish_many(self.redis, self.stream, pending, self.ctx.settings.stream_maxlen_factor)
                    await self.published(pending)
                    pending, delay = [], 1.0
                    continue  # more may be waiting
            except TRANSIENT_ERRORS as exc:
                log.warning("producer store unavailable, retrying", extra={"producer": self.name, "error": repr(exc)})
                await _sleep(stop, delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            await _sleep(stop, self.interval_s)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
