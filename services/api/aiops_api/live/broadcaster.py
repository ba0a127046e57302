"""Fans the live channel out to this process's WebSocket clients.

Every API replica subscribes to the bus's live channel (Redis pub/sub), so a client sees every event whichever
replica it is connected to. A client too slow to keep up is disconnected rather than slowing others.
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
        self.clients: set[asyncio.Queue[str | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._relay(), name="live-broadcaster")
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def subscribe(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(self.queue_size)
        self.clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        self.clients.discard(queue)

    async def _relay(self) -> None:
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                async with self.bus.live() as pubsub:
                    self._subscribed.set()
                    backoff.reset()
                    async for message in pubsub.listen():
                        for envelope in live_envelopes(message["data"]):
                            self._fan_out(envelope)
            except (RedisConnectionError, OSError) as exc:
                delay = backoff.next()
                log.warning("live channel lost, resubscribing", extra={"error": repr(exc), "retry_in_s": delay})
                await asyncio.sleep(delay)

    def _fan_out(self, data: str) -> None:
        for queue in list(self.clients):
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:
                self.clients.discard(queue)
                queue.get_nowait()  # make room for the sentinel that tells the client it was dropped
                queue.put_nowait(None)
