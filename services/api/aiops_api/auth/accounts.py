"""A signed-in user's access token is only as good as the account behind it.

Each request with a user token (one that carries `uid`) reads the account's `active` flag and role, cached
in Redis for USER_CACHE_SECONDS and dropped from the cache whenever the user is changed, so a deactivated or
deleted user's token stops working at once on this replica and within seconds on the others, and a
demotion takes effect as fast. Machine tokens carry no account and keep their role until they expire.
"""

import logging
import uuid
from dataclasses import replace

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.auth.tokens import InvalidToken, Principal, Role
from aiops_api.settings import ApiSettings
from aiops_contracts.db import User

log = logging.getLogger(__name__)

KEY_PREFIX = "aiops:auth:user"  # + user id, under BUS_PREFIX (settings.redis_key)
_GONE = b"-"  # cached value of a deleted or deactivated user


class Accounts:
    def __init__(self, redis: Redis, sessions: async_sessionmaker[AsyncSession], settings: ApiSettings) -> None:
        self.redis = redis
        self.sessions = sessions
        self.cache_ms = int(settings.user_cache_seconds * 1000)
        self.key_prefix = settings.redis_key(KEY_PREFIX)

    async def authorize(self, principal: Principal) -> Principal:
        """The principal with its account's current role; InvalidToken when the account is gone or inactive."""
        if principal.user_id is None:
            return principal
        role = await self._role(principal.user_id)
        if role == _GONE:
            raise InvalidToken("user is deactivated or deleted")
        return replace(principal, role=Role[role.decode()])

    async def forget(self, user_id: uuid.UUID) -> None:
        """Called after a change to the user: the next request reads the account again."""
        try:
            await self.redis.delete(f"{self.key_prefix}:{user_id}")
        except RedisError as exc:  # the entry then lives out its few seconds
            log.warning("user cache entry not dropped", extra={"user_id": str(user_id), "error": repr(exc)})

    async def _role(self, user_id: uuid.UUID) -> bytes:
        key = f"{self.key_prefix}:{user_id}"
        try:
            cached = await self.redis.get(key) if self.cache_ms else None
            if cached is not None:
                return cached
            role = await self._load(user_id)
            if self.cache_ms:
                await self.redis.set(key, role, px=self.cache_ms)
            return role
        except RedisError as exc:  # without the cache, PostgreSQL still answers
            log.warning("user cache unavailable", extra={"error": repr(exc)})
            return await self._load(user_id)

    async def _load(self, user_id: uuid.UUID) -> bytes:
        async with self.sessions() as session:
            row = (await session.execute(select(User.role, User.active).where(User.id == user_id))).first()
        return row.role.encode() if row and row.active else _GONE
