"""Periodic tasks share one loop: tick at start, then every interval; a store outage skips a tick; stop ends
the wait at once and `stopped()` runs once."""

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError

from aiops_worker.forecasts.task import ForecastTask
from aiops_worker.runtime.health import HeartbeatTask
from aiops_worker.runtime.periodic import PeriodicTask
from aiops_worker.runtime.retention import RetentionTask


class Ticker(PeriodicTask):
    name = "ticker"

    def __init__(self) -> None:
        super().__init__(interval_s=0.01)
        self.ticks = 0
        self.stops = 0
        self.enough = asyncio.Event()

    async def tick(self, stop: asyncio.Event) -> None:
        self.ticks += 1
        if self.ticks == 1:
            raise RedisConnectionError("down")  # skipped: the next tick comes anyway
        if self.ticks == 3:
            self.enough.set()

    async def stopped(self) -> None:
        self.stops += 1


async def test_ticks_at_start_survives_a_store_outage_and_stops_once() -> None:
    ticker, stop = Ticker(), asyncio.Event()
    running = asyncio.create_task(ticker.run(stop))
    await asyncio.wait_for(ticker.enough.wait(), 5)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert ticker.ticks >= 3 and ticker.stops == 1


def test_forecast_retention_and_heartbeat_are_periodic_tasks() -> None:
    assert all(issubclass(task, PeriodicTask) for task in (ForecastTask, RetentionTask, HeartbeatTask))
