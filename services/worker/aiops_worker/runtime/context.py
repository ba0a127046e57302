"""The clients a worker task needs, built once in main.py and passed down (nothing connects at import)."""

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.bus import Bus
from aiops_contracts.influx import InfluxClient
from aiops_worker.settings import WorkerSettings


@dataclass
class WorkerContext:
    settings: WorkerSettings
    redis: Redis
    sessions: async_sessionmaker[AsyncSession]
    influx: InfluxClient
    bus: Bus = field(init=False)  # on `redis`, with the stream settings of `settings`

    def __post_init__(self) -> None:
        self.bus = Bus(self.redis, self.settings)
