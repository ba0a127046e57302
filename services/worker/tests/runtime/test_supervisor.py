"""The supervisor restarts crashed tasks with back-off and stops them gracefully."""

import asyncio
import time

from aiops_worker.runtime.supervisor import Supervisor


class Flaky:
    """Crashes on its first run, then works until stopped; records when each run started."""

    name = "flaky"

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.finished_cleanly = False

    async def run(self, stop: asyncio.Event) -> None:
        self.starts.append(time.monotonic())
        if len(self.starts) == 1:
            raise RuntimeError("boom")
        await stop.wait()
        self.finished_cleanly = True


class Stubborn:
    """Ignores the stop request: the supervisor must cancel it after the grace period."""

    name = "stubborn"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def run(self, stop: asyncio.Event) -> None:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_crashed_task_is_restarted_after_back_off_and_stops_cleanly() -> None:
    stop = asyncio.Event()
    flaky = Flaky()
    supervisor = asyncio.create_task(Supervisor([flaky], stop, grace_s=5).run())
    while len(flaky.starts) < 2:
        await asyncio.sleep(0.05)
    assert 0.9 <= flaky.starts[1] - flaky.starts[0] < 2.0  # first back-off is 1 s
    stop.set()
    await asyncio.wait_for(supervisor, 5)
    assert flaky.finished_cleanly


async def test_task_that_ignores_stop_is_cancelled_after_grace() -> None:
    stop = asyncio.Event()
    stubborn = Stubborn()
    supervisor = asyncio.create_task(Supervisor([stubborn], stop, grace_s=0.2).run())
    await asyncio.wait_for(stubborn.started.wait(), 5)  # a stop set before the task started would never start it
    stop.set()
    await asyncio.wait_for(supervisor, 5)
    assert stubborn.cancelled
