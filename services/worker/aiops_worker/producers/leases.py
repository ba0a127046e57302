"""Which replica polls which source: a lease per source in Redis (`POLLER_LEASE_KEY:<id>` = the worker's name,
with a TTL), taken with SET NX and renewed by its holder at each reconcile. A replica that dies stops renewing;
its leases expire and the others take the sources over. Live replicas announce themselves in a sorted set
(score: last reconcile), and a replica takes new sources only up to its fair share (sources / live replicas,
rounded up), so the sources spread over the replicas instead of all going to the first one to start; one that
holds more than its share (a replica joined) gives the excess up for the others to take."""

import math
import time

from redis.asyncio import Redis

from aiops_contracts.streams import POLLER_LEASE_KEY
from aiops_worker.settings import WorkerSettings

# KEYS: the lease keys. ARGV: worker name, TTL ms, how many new leases may be taken. Returns the held indexes.
_HOLD = """
local held, room = {}, tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[#held + 1] = i
  elseif not owner and room > 0 then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    room = room - 1
    held[#held + 1] = i
  end
end
return held
"""
# KEYS: lease keys; ARGV: worker name. Deletes those this worker holds.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""


class Leases:
    def __init__(self, redis: Redis, settings: WorkerSettings) -> None:
        self.redis = redis
        self.settings = settings
        self.worker = settings.worker_name
        self.ttl_s = settings.poller_lease_s
        self.replicas_key = settings.redis_key(POLLER_LEASE_KEY, "replicas")
        self._hold = redis.register_script(_HOLD)
        self._release = redis.register_script(_RELEASE)
        self.share = 0  # this replica's fair share at the last `hold`

    def lease_key(self, source_id: str) -> str:
        return self.settings.redis_key(POLLER_LEASE_KEY, source_id)

    async def hold(self, source_ids: list[str], already_held: int) -> set[str]:
        """Renew this worker's leases among `source_ids` and take free ones up to its fair share; returns the
        ids it holds now. `already_held`: how many it held before (counted against the share)."""
        replicas = await self._live_replicas()
        if not source_ids:
            return set()
        self.share = math.ceil(len(source_ids) / replicas)
        keys = [self.lease_key(source_id) for source_id in source_ids]
        room = max(self.share - already_held, 0)
        held = await self._hold(keys=keys, args=[self.worker, int(self.ttl_s * 1000), room])
        return {source_ids[int(index) - 1] for index in held}

    async def give_up(self, source_ids: list[str]) -> None:
        """Free these leases (only those this worker holds) for another replica to take."""
        if source_ids:
            await self._release(keys=[self.lease_key(source_id) for source_id in source_ids], args=[self.worker])

    async def release(self, source_ids: list[str]) -> None:
        """At stop: free every lease and leave the live replicas."""
        await self.give_up(source_ids)
        await self.redis.zrem(self.replicas_key, self.worker)

    async def _live_replicas(self) -> int:
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.replicas_key, {self.worker: now})
            pipe.zremrangebyscore(self.replicas_key, "-inf", now - self.ttl_s)
            pipe.zcard(self.replicas_key)
            *_, count = await pipe.execute()
        return max(int(count), 1)
