"""Worker liveness: a heartbeat key with a TTL, and a check command for container healthchecks.

`python -m aiops_worker.runtime.health` exits 0 when a heartbeat of this worker is fresh, else 1.
"""

import asyncio
import sys
import time

from redis.asyncio import Redis

from aiops_contracts.streams import WORKER_HEARTBEAT_KEY
from aiops_worker.settings import WorkerSettings


class HeartbeatTask:
    name = "heartbeat"

    def __init__(self, redis: Redis, settings: WorkerSettings) -> None:
        self.redis = redis
        self.settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        key = f"{WORKER_HEARTBEAT_KEY}:{self.settings.worker_name}"
        ttl = max(1, int(self.settings.heartbeat_interval_s * 3))
        while not stop.is_set():
            await self.redis.set(key, str(time.time()), ex=ttl)
            try:
                await asyncio.wait_for(stop.wait(), self.settings.heartbeat_interval_s)
            except asyncio.TimeoutError:
                pass
        await self.redis.delete(key)


async def _check(settings: WorkerSettings) -> bool:
    redis = Redis.from_url(settings.redis_url)
    try:
        return bool(await redis.exists(f"{WORKER_HEARTBEAT_KEY}:{settings.worker_name}"))
    finally:
        await redis.aclose()


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(_check(WorkerSettings())) else 1)
