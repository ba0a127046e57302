"""Rate limiting in Redis: a sliding window per credential and per client IP, by route class.

Every request is sorted into a route class (read, write, auth, webhook) with its own limit per
RATE_LIMIT_WINDOW_S. The window slides: the previous fixed window's count is weighted by how much of it
still overlaps (Cloudflare's sliding-window counter), so memory is two counters per key. Both keys of a
request (IP and credential) are checked and counted by one Lua script: one Redis round trip.

Over the limit, REST routes answer 429 with Retry-After. Webhook routes answer 503 with Retry-After:
Alertmanager drops a notification for good on any 4xx (429 included) and retries only 5xx.
The client IP is the ASGI peer: behind a proxy, run uvicorn with --proxy-headers and --forwarded-allow-ips.
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
from starlette.types import ASGIApp, Receive, Scope, Send

from aiops_api import metrics
from aiops_api.settings import ApiSettings

log = logging.getLogger(__name__)

KEY_PREFIX = "aiops:ratelimit"
EXEMPT_PATHS = frozenset({"/health", "/ready"})  # probes must never be throttled
# Webhook receivers: our own /webhooks/..., and Sentry's SDK paths (/api/<project>/envelope/ and /store/).
_WEBHOOK_PATH = re.compile(r"^/webhooks/|^/api/[^/]+/(envelope|store)/?$")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers (lower case) that carry a credential, in the order they are looked at.
_CREDENTIAL_HEADERS = (b"authorization", b"x-aiops-token", b"x-sentry-auth")

# KEYS: per bucket the current window's key, then the previous window's. ARGV: limit, window ms, ms into window.
# Returns 0 when allowed (and counts it in every bucket), else the milliseconds until it would be allowed.
_SLIDING_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3]) / window
local wait = 0
for i = 1, #KEYS, 2 do
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  local prev = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  if prev * (1 - elapsed) + cur + 1 > limit then
    local until_allowed
    if cur + 1 > limit then
      until_allowed = 2 - (limit - 1) / cur
    else
      until_allowed = 1 - (limit - 1 - cur) / prev
    end
    wait = math.max(wait, (until_allowed - elapsed) * window)
  end
end
if wait > 0 then return math.ceil(wait) end
for i = 1, #KEYS, 2 do
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
        self.window_ms = settings.rate_limit_window_s * 1000
        self._script: AsyncScript | None = None  # EVALSHA, loaded on first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = classify(scope["method"], scope["path"]) if scope["type"] == "http" else None
        route_class = self.classes.get(name) if name else None
        if route_class is None or route_class.limit == 0:
            await self.app(scope, receive, send)
            return
        wait_ms = await self._check(scope, route_class)
        if wait_ms:
            metrics.RATE_LIMITED.labels(route_class.name).inc()
            await self._reject(send, route_class, wait_ms)
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, route_class: RouteClass) -> int:
        redis: Redis = scope["app"].state.redis
        now_ms = int(time.time() * 1000)
        index, elapsed = divmod(now_ms, self.window_ms)
        keys: list[str] = []
        buckets = [f"ip:{client_ip(scope)}"]
        credential = credential_fingerprint(scope)
        if credential:
            buckets.append(f"cred:{credential}")
        for bucket in buckets:
            base = f"{KEY_PREFIX}:{route_class.name}:{bucket}"
            keys += [f"{base}:{index}", f"{base}:{index - 1}"]
        if self._script is None:
            self._script = redis.register_script(_SLIDING_WINDOW_LUA)
        try:
            return int(await self._script(keys=keys, args=[route_class.limit, self.window_ms, elapsed]))
        except RedisError as exc:
            # Without Redis nothing can be ingested anyway; refusing every read would only add an outage.
            log.warning("rate limiter unavailable, request let through", extra={"error": repr(exc)})
            return 0

    async def _reject(self, send: Send, route_class: RouteClass, wait_ms: int) -> None:
        window_s = self.window_ms // 1000
        body = orjson.dumps({"detail": f"rate limit exceeded: {route_class.limit} {route_class.name} requests "
                                       f"per {window_s} s; retry later"})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"retry-after", str(max(1, math.ceil(wait_ms / 1000))).encode())]
        await send({"type": "http.response.start", "status": route_class.over_limit_status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
