"""Rate limiting in Redis: a sliding window per credential and per client IP, by route class, and a limit
on failed authentications per client.

Every request is sorted into a route class (read, write, auth, webhook) with its own limit per
RATE_LIMIT_WINDOW_S. The window slides: the previous fixed window's count is weighted by how much of it
still overlaps (Cloudflare's sliding-window counter), so memory is two counters per key. Both keys of a
request (IP and credential) are checked and counted by one Lua script: one Redis round trip.

Each 401 answered counts against the client's RATE_LIMIT_AUTH_FAILURES; past it, every request of that client
gets 429 until the window slides on, so guessing tokens (each unknown webhook token costs a PostgreSQL
lookup) or passwords stays slow. The same script checks it.

Over the limit, REST routes answer 429 with Retry-After. Webhook routes answer 503 with Retry-After:
Alertmanager drops a notification for good on any 4xx (429 included) and retries only 5xx.
The client IP is the ASGI peer, as TrustedProxyMiddleware (aiops_api/proxies.py) sets it behind a proxy.
"""

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiops_api import instrumentation
from aiops_api.settings import ApiSettings

log = logging.getLogger(__name__)

KEY_PREFIX = "aiops:ratelimit"  # under BUS_PREFIX (settings.redis_key)
EXEMPT_PATHS = frozenset({"/health", "/ready"})  # probes must never be throttled
# Webhook receivers: our own /webhooks/..., and Sentry's SDK paths (/api/<project>/envelope/ and /store/).
_WEBHOOK_PATH = re.compile(r"^/webhooks/|^/api/[^/]+/(envelope|store)/?$")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers (lower case) that carry a credential, in the order they are looked at.
_CREDENTIAL_HEADERS = (b"authorization", b"x-aiops-token", b"x-sentry-auth")
_FAILURES = "auth-failure"  # the bucket name of failed authentications

# KEYS: the client's failed-authentication keys (current window, previous window), then per bucket of the route
# class the same pair. ARGV: route class limit, window ms, ms into window, failed-authentication limit (0: none).
# Returns 0 when allowed (and counts it in every bucket of the route class), else the milliseconds until it
# would be allowed: negative when the failed authentications are what refuses it.
_SLIDING_WINDOW_LUA = """
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3]) / window
local function wait_ms(cur_key, prev_key, limit)
  local cur = tonumber(redis.call('GET', cur_key) or '0')
  local prev = tonumber(redis.call('GET', prev_key) or '0')
  if prev * (1 - elapsed) + cur + 1 <= limit then return 0 end
  local until_allowed
  if cur + 1 > limit then
    until_allowed = 2 - (limit - 1) / cur
  else
    until_allowed = 1 - (limit - 1 - cur) / prev
  end
  return math.max(1, math.ceil((until_allowed - elapsed) * window))
end
local failures = tonumber(ARGV[4])
if failures > 0 then
  local wait = wait_ms(KEYS[1], KEYS[2], failures)
  if wait > 0 then return -wait end
end
local limit = tonumber(ARGV[1])
if limit == 0 then return 0 end
local wait = 0
for i = 3, #KEYS, 2 do
  wait = math.max(wait, wait_ms(KEYS[i], KEYS[i + 1], limit))
end
if wait > 0 then return wait end
for i = 3, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], window * 2)
end
return 0
"""


@dataclass(frozen=True)
class RouteClass:
    name: str
    limit: int  # requests per window per key; 0 = unlimited
    over_limit_status: int  # 429, or 503 where the client drops the data on a 4xx


def route_classes(settings: ApiSettings) -> dict[str, RouteClass]:
    return {
        "read": RouteClass("read", settings.rate_limit_read, 429),
        "write": RouteClass("write", settings.rate_limit_write, 429),
        "auth": RouteClass("auth", settings.rate_limit_auth, 429),
        "webhook": RouteClass("webhook", settings.rate_limit_webhook, 503),
    }


def classify(method: str, path: str) -> str | None:
    """The route class of a request, or None for the exempt probes."""
    if path in EXEMPT_PATHS:
        return None
    if _WEBHOOK_PATH.match(path):
        return "webhook"
    if path.startswith("/api/v1/auth/") and method == "POST":
        return "auth"
    return "read" if method in _READ_METHODS else "write"


def credential_fingerprint(scope: Scope) -> str | None:
    """A digest of the presented credential (never the secret itself, and never raw input in a Redis key)."""
    headers = dict(scope["headers"])
    for name in _CREDENTIAL_HEADERS:
        if name in headers:
            return hashlib.sha256(headers[name]).hexdigest()[:32]
    query = scope.get("query_string", b"")
    if b"sentry_key=" in query:
        return hashlib.sha256(query).hexdigest()[:32]
    return None


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return hashlib.sha256(client[0].encode()).hexdigest()[:32] if client else "unknown"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.classes = route_classes(settings)
        self.failure_limit = settings.rate_limit_auth_failures
        self.window_ms = settings.rate_limit_window_s * 1000
        self.key_prefix = settings.redis_key(KEY_PREFIX)
        self._script: AsyncScript | None = None  # EVALSHA, loaded on first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = classify(scope["method"], scope["path"]) if scope["type"] == "http" else None
        route_class = self.classes.get(name) if name else None
        if route_class is None or not (route_class.limit or self.failure_limit):
            await self.app(scope, receive, send)
            return
        now_ms = int(time.time() * 1000)
        wait_ms = await self._check(scope, route_class, now_ms)
        if wait_ms:
            instrumentation.RATE_LIMITED.labels(_FAILURES if wait_ms < 0 else route_class.name).inc()
            await self._reject(send, route_class, wait_ms)
            return
        await self.app(scope, receive, self._counting_failures(scope, send) if self.failure_limit else send)

    def _keys(self, route_class: RouteClass, scope: Scope, index: int) -> list[str]:
        """The client's failed-authentication pair of keys, then the pairs of the route class's buckets."""
        ip = f"ip:{client_ip(scope)}"
        credential = credential_fingerprint(scope)
        bases = [f"{self.key_prefix}:{_FAILURES}:{ip}", f"{self.key_prefix}:{route_class.name}:{ip}"]
        if credential:
            bases.append(f"{self.key_prefix}:{route_class.name}:cred:{credential}")
        return [key for base in bases for key in (f"{base}:{index}", f"{base}:{index - 1}")]

    async def _check(self, scope: Scope, route_class: RouteClass, now_ms: int) -> int:
        redis: Redis = scope["app"].state.redis
        index, elapsed = divmod(now_ms, self.window_ms)
        if self._script is None:
            self._script = redis.register_script(_SLIDING_WINDOW_LUA)
        args = [route_class.limit, self.window_ms, elapsed, self.failure_limit]
        try:
            return int(await self._script(keys=self._keys(route_class, scope, index), args=args))
        except RedisError as exc:
            # Without Redis nothing can be ingested anyway; refusing every read would only add an outage.
            log.warning("rate limiter unavailable, request let through", extra={"error": repr(exc)})
            return 0

    def _counting_failures(self, scope: Scope, send: Send) -> Send:
        """`send`, counting a 401 answer against the client's failed authentications."""
        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self._count_failure(scope)
            await send(message)

        return counted

    async def _count_failure(self, scope: Scope) -> None:
        key = f"{self.key_prefix}:{_FAILURES}:ip:{client_ip(scope)}:{int(time.time() * 1000) // self.window_ms}"
        try:
            async with scope["app"].state.redis.pipeline(transaction=True) as pipe:
                await pipe.incr(key).pexpire(key, self.window_ms * 2).execute()
        except RedisError as exc:
            log.warning("failed authentication not counted", extra={"error": repr(exc)})

    async def _reject(self, send: Send, route_class: RouteClass, wait_ms: int) -> None:
        window_s = self.window_ms // 1000
        if wait_ms < 0:
            status, what = 429, f"{self.failure_limit} failed authentications from this client"
        else:
            status, what = route_class.over_limit_status, f"{route_class.limit} {route_class.name} requests"
        body = orjson.dumps({"detail": f"rate limit exceeded: {what} per {window_s} s; retry later"})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"retry-after", str(max(1, math.ceil(abs(wait_ms) / 1000))).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
