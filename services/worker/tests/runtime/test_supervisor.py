"""The supervisor restarts crashed tasks with back-off and stops them gracefully."""

import asyncio

import pytest

from aiops_contracts.timing import sleep_or_stop
from aiops_worker.runtime import supervisor as supervisor_module
from aiops_worker.runtime.supervisor import INITIAL_BACKOFF_S, Supervisor

# Generous: on a loaded machine a turn of the loop can take seconds; the tests wait for events, not for time.
WAIT_S = 30


class Flaky:
    """Crashes on its first run, then works until stopped; records when each run started (the loop's clock, the
    one its sleeps use)."""

    name = "flaky"

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.restarted = asyncio.Event()
        self.finished_cleanly = False

    async def run(self, stop: asyncio.Event) -> None:
        self.starts.append(asyncio.get_running_loop().time())
        if len(self.starts) == 1:
            raise RuntimeError("boom")
        self.restarted.set()
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


@pytest.fixture
def back_offs(monkeypatch) -> list[float]:
    """The seconds of each back-off the supervisor waits (it still waits them)."""
    seconds: list[float] = []

    async def recorded(stop: asyncio.Event, delay: float) -> bool:
        seconds.append(delay)
        return await sleep_or_stop(stop, delay)

    monkeypatch.setattr(supervisor_module, "sleep_or_stop", recorded)
    return seconds


async def test_crashed_task_is_restarted_after_back_off_and_stops_cleanly(back_offs) -> None:
    stop = asyncio.Event()
    flaky = Flaky()
    supervisor = asyncio.create_task(Supervisor([flaky], stop, grace_s=5).run())
    await asyncio.wait_for(flaky.restarted.wait(), WAIT_S)
    # The first back-off is 1 s, and the restart waited it out. How much later than that the restart came says
    # only how loaded the machine is, so there is no upper bound.
    assert back_offs == [INITIAL_BACKOFF_S] == [1.0]
    assert flaky.starts[1] - flaky.starts[0] >= 0.9 * INITIAL_BACKOFF_S  # the loop's timers may fire a tick early
    stop.set()
    await asyncio.wait_for(supervisor, WAIT_S)
    assert flaky.finished_cleanly and back_offs == [1.0]


async def test_task_that_ignores_stop_is_cancelled_after_grace() -> None:
    stop = asyncio.Event()
    stubborn = Stubborn()
    supervisor = asyncio.create_task(Supervisor([stubborn], stop, grace_s=0.2).run())
    await asyncio.wait_for(stubborn.started.wait(), WAIT_S)  # a stop set before the task started would never start it
    stop.set()
    await asyncio.wait_for(supervisor, WAIT_S)
    assert stubborn.cancelled
