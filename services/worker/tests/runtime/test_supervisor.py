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
    cancelled = False

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            Stubborn.cancelled = True
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
    supervisor = asyncio.create_task(Supervisor([Stubborn()], stop, grace_s=0.2).run())
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(supervisor, 5)
    assert Stubborn.cancelled
