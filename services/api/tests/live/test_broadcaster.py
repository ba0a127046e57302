"""The live broadcaster fans pub/sub messages out, a message's envelopes as one queue item, and drops clients
that cannot keep up."""

import asyncio

from aiops_api.live.broadcaster import Broadcaster
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope


async def test_every_client_gets_each_message_and_slow_ones_are_dropped(bus: Bus) -> None:
    broadcaster = Broadcaster(bus, queue_size=3)
    await broadcaster.start()
    try:
        fast, slow = broadcaster.subscribe(), broadcaster.subscribe()
        received = []
        for i in range(5):
            await bus.redis.publish(bus.live_channel, f"event {i}")
            received.append(await asyncio.wait_for(fast.get(), 5))
        assert received == [[f"event {i}"] for i in range(5)]
        for _ in range(50):  # the slow client's queue overflowed: it is told so and unsubscribed
            if slow not in broadcaster.clients:
                break
            await asyncio.sleep(0.02)
        assert slow not in broadcaster.clients
        drained = [slow.get_nowait() for _ in range(slow.qsize())]
        assert drained[-1] is None
    finally:
        await broadcaster.stop()


async def test_a_batch_larger_than_the_queue_is_one_item_and_keeps_the_client(bus: Bus) -> None:
    broadcaster = Broadcaster(bus, queue_size=3)
    await broadcaster.start()
    try:
        client = broadcaster.subscribe()
        batch = [Envelope(id=f"e{i}", type="test.batched", source="test") for i in range(50)]
        await bus.broadcast(batch)
        assert await asyncio.wait_for(client.get(), 5) == [e.model_dump_json() for e in batch]
        assert client in broadcaster.clients
    finally:
        await broadcaster.stop()
