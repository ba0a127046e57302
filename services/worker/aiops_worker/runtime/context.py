"""The clients a worker task needs, built once in main.py and passed down (nothing connects at import)."""

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.influx import InfluxClient
from aiops_worker.settings import WorkerSettings


@dataclass
class WorkerContext:
    settings: WorkerSettings
    redis: Redis
    sessions: async_sessionmaker[AsyncSession]
    influx: InfluxClient
