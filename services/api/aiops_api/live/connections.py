"""At most LIVE_MAX_CONNECTIONS_PER_USER WebSockets per token subject, across every API replica.

Each open connection holds a lease in a Redis sorted set per subject (member: a connection id, score: when the
lease ends). The connection renews its lease while it lives and drops it when it closes; the lease of a replica
that died runs out on its own.
"""

import hashlib
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

KEY_PREFIX = "aiops:live:connections"  # + subject digest, under BUS_PREFIX (settings.redis_key)

# KEYS[1]: the subject's set. ARGV: now ms, lease end ms, limit, connection id. 1 if a slot was taken, else 0.
_ACQUIRE_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Slot:
    key: str
    member: str


class ConnectionSlots:
    def __init__(self, redis: Redis, limit: int, lease_s: float, *, key_prefix: str) -> None:
        self.redis = redis
        self.key_prefix = key_prefix  # settings.redis_key(KEY_PREFIX)
        self.limit = limit
        self.lease_ms = int(lease_s * 1000)
        self._acquire = redis.register_script(_ACQUIRE_LUA)

    async def acquire(self, subject: str) -> Slot | None:
        """A slot for one more connection of `subject`, or None when it has `limit` open."""
        slot = Slot(f"{self.key_prefix}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}", uuid.uuid4().hex)
        now_ms = int(time.time() * 1000)
        taken = await self._acquire(keys=[slot.key], args=[now_ms, now_ms + self.lease_ms, self.limit, slot.member])
        return slot if taken else None

    async def renew(self, slot: Slot) -> None:
        lease_end = int(time.time() * 1000) + self.lease_ms
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(slot.key, {slot.member: lease_end}, xx=True)
            pipe.pexpire(slot.key, self.lease_ms)
            await pipe.execute()

    async def release(self, slot: Slot) -> None:
        await self.redis.zrem(slot.key, slot.member)
