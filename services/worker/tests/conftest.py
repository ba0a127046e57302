"""Worker fixtures: settings and a context on the test stores; tasks run in drain mode."""

import asyncio
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


async def _drain(task) -> None:
    await task.run(asyncio.Event(), drain=True)


@pytest.fixture
def drain():
    """Runs a consumer until its stream has nothing left for it (arq's burst mode)."""
    return _drain
