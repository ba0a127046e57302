"""The shared waiting helpers: a stop ends a sleep at once; back-off doubles to its maximum and starts over."""

import asyncio
import time

from aiops_contracts.timing import Backoff, sleep_or_stop


async def test_sleep_or_stop_wakes_at_once_on_stop_and_says_so() -> None:
    stop = asyncio.Event()
    assert await sleep_or_stop(stop, 0.01) is False
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.perf_counter()
    assert await sleep_or_stop(stop, 30) is True
    assert time.perf_counter() - started < 5


def test_backoff_doubles_up_to_its_maximum_and_resets() -> None:
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0
