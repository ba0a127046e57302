"""Worker fixtures: settings and a context on the test stores; tasks run in drain mode."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.influx import InfluxClient
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.settings import WorkerSettings


@pytest.fixture
def worker_settings(test_env: dict[str, str]) -> WorkerSettings:
    return WorkerSettings(**{k.lower(): v for k, v in test_env.items()}, worker_name="test-worker",
                          stream_block_ms=50, stream_claim_idle_ms=200, stream_max_deliveries=3)


@pytest.fixture
async def worker_ctx(worker_settings: WorkerSettings, redis: Redis,
                     sessions: async_sessionmaker[AsyncSession], clean_db: None) -> AsyncIterator[WorkerContext]:
    influx = InfluxClient(worker_settings)
    yield WorkerContext(settings=worker_settings, redis=redis, sessions=sessions, influx=influx)
    await influx.aclose()


@pytest.fixture
async def own_influx_ctx(worker_ctx: WorkerContext) -> AsyncIterator[WorkerContext]:
    """The worker context on an InfluxDB database of its own, for tasks that read every series there (capacity
    forecasts, replays): the run's shared database holds other tests' points (pipeline builds of the last 45 days)."""
    settings = worker_ctx.settings.model_copy(update={"influx_database": f"aiops_test_own_{uuid.uuid4().hex[:8]}"})
    influx = InfluxClient(settings)
    await influx.create_database()
    yield WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions, influx=influx)
    await influx.query(f'DROP DATABASE "{settings.influx_database}"')
    await influx.aclose()


async def _drain(task) -> None:
    await task.run(asyncio.Event(), drain=True)


@pytest.fixture
def drain():
    """Runs a consumer until its stream has nothing left for it (arq's burst mode)."""
    return _drain
