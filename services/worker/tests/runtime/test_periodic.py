"""Periodic tasks share one loop: tick at start, then every interval; a store outage skips a tick; stop ends
the wait at once and `stopped()` runs once. A job inside a stream task (`run_every`) survives the same."""

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiops_contracts.chroma import ChromaUnavailable
from aiops_worker.forecasts.task import ForecastTask
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.health import HeartbeatTask
from aiops_worker.runtime.periodic import PeriodicTask, run_every
from aiops_worker.runtime.retention import RetentionTask

WAIT_S = 30  # a guard against a hang, generous for a loaded machine: the ticks come every 10 ms


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
    await asyncio.wait_for(ticker.enough.wait(), WAIT_S)
    stop.set()
    await asyncio.wait_for(running, WAIT_S)
    assert ticker.ticks >= 3 and ticker.stops == 1


def test_forecast_retention_and_heartbeat_are_periodic_tasks() -> None:
    assert all(issubclass(task, PeriodicTask) for task in (ForecastTask, RetentionTask, HeartbeatTask))


async def raise_in_postgres(ctx: WorkerContext, errcode: str) -> None:
    async with ctx.sessions.begin() as session:
        await session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'failed' USING ERRCODE = '{errcode}'; END $$"))


async def test_a_job_that_finds_a_store_down_or_deadlocks_runs_again_next_period(worker_ctx: WorkerContext) -> None:
    calls, stop = 0, asyncio.Event()

    async def job() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ChromaUnavailable("down")
        if calls == 2:
            await raise_in_postgres(worker_ctx, "deadlock_detected")
        stop.set()

    await asyncio.wait_for(run_every(0.01, stop, job), WAIT_S)
    assert calls == 3


async def test_a_job_failing_otherwise_ends_the_loop(worker_ctx: WorkerContext) -> None:
    async def job() -> None:
        await raise_in_postgres(worker_ctx, "division_by_zero")

    with pytest.raises(DBAPIError):
        await asyncio.wait_for(run_every(0.01, asyncio.Event(), job), WAIT_S)
