"""The live broadcaster fans pub/sub messages out and drops clients that cannot keep up."""

import asyncio

from aiops_api.live.broadcaster import Broadcaster
from aiops_contracts.bus import Bus


async def test_every_client_gets_each_message_and_slow_ones_are_dropped(bus: Bus) -> None:
    broadcaster = Broadcaster(bus, queue_size=3)
    await broadcaster.start()
    try:
        fast, slow = broadcaster.subscribe(), broadcaster.subscribe()
        received = []
        for i in range(5):
            await bus.redis.publish(bus.live_channel, f"event {i}")
            received.append(await asyncio.wait_for(fast.get(), 5))
        assert received == [f"event {i}" for i in range(5)]
        for _ in range(50):  # the slow client's queue overflowed: it is told so and unsubscribed
            if slow not in broadcaster.clients:
                break
            await asyncio.sleep(0.02)
        assert slow not in broadcaster.clients
        drained = [slow.get_nowait() for _ in range(slow.qsize())]
        assert drained[-1] is None
    finally:
        await broadcaster.stop()
