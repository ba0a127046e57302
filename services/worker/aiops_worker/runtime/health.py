"""Worker liveness: a heartbeat key with a TTL, and a check command for container healthchecks.

`python -m aiops_worker.runtime.health` exits 0 when a heartbeat of this worker is fresh, else 1.
"""

import asyncio
import sys
import time

from redis.asyncio import Redis

from aiops_contracts.streams import WORKER_HEARTBEAT_KEY
from aiops_worker.runtime.periodic import PeriodicTask
from aiops_worker.settings import WorkerSettings


def heartbeat_key(settings: WorkerSettings) -> str:
    return settings.redis_key(WORKER_HEARTBEAT_KEY, settings.worker_name)


class HeartbeatTask(PeriodicTask):
    name = "heartbeat"

    def __init__(self, redis: Redis, settings: WorkerSettings) -> None:
        super().__init__(settings.heartbeat_interval_s)
        self.redis = redis
        self.key = heartbeat_key(settings)
        self.ttl = max(1, int(settings.heartbeat_interval_s * 3))

    async def tick(self, stop: asyncio.Event) -> None:
        await self.redis.set(self.key, str(time.time()), ex=self.ttl)

    async def stopped(self) -> None:
        await self.redis.delete(self.key)


async def _check(settings: WorkerSettings) -> bool:
    redis = Redis.from_url(settings.redis_url)
    try:
        return bool(await redis.exists(heartbeat_key(settings)))
    finally:
        await redis.aclose()


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(_check(WorkerSettings())) else 1)
