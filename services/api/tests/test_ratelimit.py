"""Rate limiting: sliding window per credential and per IP, by route class; 429 for REST, 503 for webhooks."""

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from aiops_api.auth.tokens import InvalidToken, Principal, Role
from aiops_api.main import create_app
from aiops_api.ratelimit import KEY_PREFIX, classify

LIMITS = {"rate_limit_read": 5, "rate_limit_write": 3, "rate_limit_auth": 2, "rate_limit_webhook": 4}


@pytest.fixture
async def limited(api_settings, clean_db, redis) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of one app with small limits, each from its own client IP."""
    app = create_app(api_settings.model_copy(update=LIMITS))
    async with app.router.lifespan_context(app):
        clients: list[httpx.AsyncClient] = []

        def client_from(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(ip, 40000))
            clients.append(httpx.AsyncClient(transport=transport, base_url="http://test"))
            return clients[-1]

        yield client_from
        for client in clients:
            await client.aclose()


async def test_read_limit_is_429_with_retry_after(limited, auth) -> None:
    client = limited("10.0.0.1")
    statuses = [(await client.get("/api/v1/alerts", headers=auth(Role.viewer))).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    refused = await client.get("/api/v1/alerts", headers=auth(Role.viewer))
    assert 1 <= int(refused.headers["retry-after"]) <= 120
    assert "rate limit" in refused.json()["detail"]


async def test_classes_have_separate_budgets(limited, auth) -> None:
    client = limited("10.0.0.2")
    for _ in range(5):
        await client.get("/api/v1/alerts", headers=auth(Role.viewer))
    login = await client.post("/api/v1/auth/login", data={"username": "x", "password": "y"})
    assert login.status_code == 401  # the auth class still has budget


async def test_login_attempts_are_limited_per_ip(limited) -> None:
    client = limited("10.0.0.3")
    statuses = [(await client.post("/api/v1/auth/login", data={"username": "x", "password": f"guess{i}"})).status_code
                for i in range(4)]
    assert statuses == [401, 401, 429, 429]


async def test_a_credential_is_limited_across_ips(limited, auth) -> None:
    headers = auth(Role.viewer)
    statuses = [(await limited(f"10.1.0.{i}").get("/api/v1/alerts", headers=headers)).status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_webhook_over_limit_is_503_so_alertmanager_retries(limited, make_source) -> None:
    source = await make_source("am")
    client = limited("10.0.0.4")
    statuses = [(await client.post("/webhooks/generic", json={"title": "t"}, headers={"X-AIOps-Token": source.token}))
                .status_code for _ in range(6)]
    assert statuses == [202] * 4 + [503] * 2
    refused = await client.post("/webhooks/generic", json={"title": "t"}, headers={"X-AIOps-Token": source.token})
    assert int(refused.headers["retry-after"]) >= 1


async def test_probes_are_never_limited(limited) -> None:
    client = limited("10.0.0.5")
    assert {(await client.get("/health")).status_code for _ in range(20)} == {200}


async def test_keys_hold_digests_not_credentials_or_ips(limited, auth, redis, api_settings) -> None:
    headers = auth(Role.viewer)
    await limited("10.9.9.9").get("/api/v1/alerts", headers=headers)
    keys = [k.decode() for k in await redis.keys(f"{api_settings.redis_key(KEY_PREFIX)}:*")]
    assert keys and all("10.9.9.9" not in k and headers["Authorization"][7:] not in k for k in keys)


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/api/v1/alerts", "read"), ("POST", "/api/v1/alerts/x/acknowledge", "write"),
    ("POST", "/api/v1/auth/login", "auth"), ("GET", "/api/v1/auth/me", "read"),
    ("POST", "/webhooks/alertmanager", "webhook"), ("POST", "/api/42/envelope/", "webhook"),
    ("GET", "/health", None), ("GET", "/ready", None),
])
def test_route_classes(method, path, expected) -> None:
    assert classify(method, path) == expected


async def test_a_second_prefix_on_the_same_redis_keeps_its_own_counts_caches_and_slots(
        api_settings, clean_db, redis, auth) -> None:
    """Another deployment (or test run, or replay) sharing the Redis under another BUS_PREFIX: the same client's
    requests to it are counted apart, and its user cache and WebSocket slots are its own."""
    other_prefix = f"aiops-test-other-{uuid.uuid4().hex[:8]}:"
    first, second = (create_app(api_settings.model_copy(update={**LIMITS, "live_max_connections_per_user": 1,
                                                                "user_cache_seconds": 5, **update}))
                     for update in ({}, {"bus_prefix": other_prefix}))
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        def client(app) -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.9", 40000)),
                                     base_url="http://test")

        async with client(first) as to_first, client(second) as to_second:
            headers = auth(Role.viewer)
            assert [(await to_first.get("/api/v1/alerts", headers=headers)).status_code for _ in range(6)] == [
                200] * 5 + [429]
            assert (await to_second.get("/api/v1/alerts", headers=headers)).status_code == 200
        assert await first.state.live_slots.acquire("someone") is not None
        assert await second.state.live_slots.acquire("someone") is not None  # its limit of 1 is its own
        gone = Principal("u", Role.viewer, user_id=uuid.uuid4())
        for app in (first, second):
            with pytest.raises(InvalidToken):
                await app.state.accounts.authorize(gone)  # caches the unknown user
    keys = {k.decode() for k in await redis.keys("*")}
    assert {k for k in keys if not k.startswith((api_settings.bus_prefix, other_prefix))} == set()
    for prefix in (api_settings.bus_prefix, other_prefix):
        mine = {k.removeprefix(prefix).split(":")[1] for k in keys if k.startswith(prefix)}
        assert {"ratelimit", "live", "auth"} <= mine
