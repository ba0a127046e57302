"""Producers: things the worker polls or listens to that become envelopes on a stream.

A producer names itself, its stream, its interval and its settings model (`settings_model`, in
producers/settings.py: read from the environment when the producer is built, unless a test passes one),
says when those settings switch it on (`enabled`), and implements `poll()`; this base class owns
the loop, the publishing and the back-off. A batch that could not be published is kept and offered
again (nothing polled is dropped while Redis is down), and `published()` is called only once the
batch is in the stream: producers that remember a position (file offsets) save it there. Producers
that hold records only in memory call `drain()` after stop, so what they accepted is not lost.
"""

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from pydantic_settings import BaseSettings

from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import StreamSpec
from aiops_contracts.timing import Backoff, sleep_or_stop
from aiops_worker.runtime.consumer import TRANSIENT_ERRORS
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class Producer(ABC, Generic[SettingsT]):
    name: ClassVar[str]
    stream: ClassVar[StreamSpec]
    settings_model: type[SettingsT]  # set by each producer (a ClassVar cannot name the type variable)

    def __init__(self, ctx: WorkerContext, settings: SettingsT | None = None) -> None:
        self.ctx = ctx
        self.redis = ctx.redis
        self.settings = settings if settings is not None else self.settings_model()
        self._unpublished: list[Envelope] = []  # kept across `run` and `drain`: a stop must not drop it
        self._backoff = Backoff(1.0, MAX_BACKOFF_S)  # while Redis is unreachable

    @classmethod
    @abstractmethod
    def enabled(cls, settings: SettingsT) -> bool:
        """Whether `settings` switch this producer on (every producer is off unless configured)."""

    @property
    @abstractmethod
    def interval_s(self) -> float:
        """How long `run` waits after a poll that found nothing."""

    @abstractmethod
    async def poll(self) -> list[Envelope]:
        """What is new since the last call (may wait up to `interval_s` for something to arrive)."""

    async def published(self, envelopes: list[Envelope]) -> None:
        """Called after `envelopes` are in the stream."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await self._publish_next(stop):
                await sleep_or_stop(stop, self.interval_s)

    async def drain(self) -> None:
        """Publish what `poll()` still finds, then return. Retries while Redis is down: after stop it is
        the supervisor's grace period that bounds it."""
        while await self._publish_next(asyncio.Event()):
            pass

    async def _publish_next(self, stop: asyncio.Event) -> bool:
        """Publish the next batch (the one that failed last, else a new poll); False: nothing to publish."""
        try:
            self._unpublished = self._unpublished or await self.poll()
            if not self._unpublished:
                return False
            await self.ctx.bus.publish_many(self.stream, self._unpublished)
            await self.published(self._unpublished)
            self._unpublished = []
            self._backoff.reset()
        except TRANSIENT_ERRORS as exc:
            log.warning("producer store unavailable, retrying", extra={"producer": self.name, "error": repr(exc)})
            await sleep_or_stop(stop, self._backoff.next())
        return True  # more may be waiting

