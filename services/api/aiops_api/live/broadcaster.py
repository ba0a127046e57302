"""Fans the live channel out to this process's WebSocket clients.

Every API replica subscribes to the bus's live channel (Redis pub/sub), so a client sees every event whichever
replica it is connected to. A client's queue holds whole messages (the envelopes one PUBLISH carried, up to a
stream batch), so its bound counts messages and one large batch never overflows it. A client too slow to keep up
is disconnected rather than slowing others.
"""

import asyncio
import logging

from redis.exceptions import ConnectionError as RedisConnectionError

from aiops_contracts.bus import Bus, live_envelopes
from aiops_contracts.timing import Backoff

log = logging.getLogger(__name__)


class Broadcaster:
    def __init__(self, bus: Bus, queue_size: int) -> None:
        self.bus = bus
        self.queue_size = queue_size
        self.clients: set[asyncio.Queue[list[str] | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._relay(), name="live-broadcaster")
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def subscribe(self) -> asyncio.Queue[list[str] | None]:
        """A queue of envelope batches (each an envelope's JSON text per item); None once dropped."""
        queue: asyncio.Queue[list[str] | None] = asyncio.Queue(self.queue_size)
        self.clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[list[str] | None]) -> None:
        self.clients.discard(queue)

    async def _relay(self) -> None:
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                async with self.bus.live() as pubsub:
                    self._subscribed.set()
                    backoff.reset()
                    async for message in pubsub.listen():
                        self._fan_out(live_envelopes(message["data"]))
            except (RedisConnectionError, OSError) as exc:
                delay = backoff.next()
                log.warning("live channel lost, resubscribing", extra={"error": repr(exc), "retry_in_s": delay})
                await asyncio.sleep(delay)

    def _fan_out(self, batch: list[str]) -> None:
        for queue in list(self.clients):
            try:
                queue.put_nowait(batch)
            except asyncio.QueueFull:
                self.clients.discard(queue)
                queue.get_nowait()  # make room for the sentinel that tells the client it was dropped
                queue.put_nowait(None)
