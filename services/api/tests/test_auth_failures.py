"""Failed authentications are limited per client (then 429 + Retry-After), and behind a trusted proxy the
client is the forwarded one; X-Forwarded-For from anyone else is ignored."""

from collections.abc import AsyncIterator, Callable
from ipaddress import ip_network

import httpx
import pytest

from aiops_api.main import create_app

LIMITS = {"rate_limit_auth_failures": 3, "trusted_proxies": [ip_network("10.0.0.1/32")]}
BAD = {"X-AIOps-Token": "aiops_not-a-real-token"}


@pytest.fixture
async def client_from(api_settings, clean_db, redis) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    app = create_app(api_settings.model_copy(update=LIMITS))
    async with app.router.lifespan_context(app):
        clients: list[httpx.AsyncClient] = []

        def client_from(peer: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(peer, 40000))
            clients.append(httpx.AsyncClient(transport=transport, base_url="http://test"))
            return clients[-1]

        yield client_from
        for client in clients:
            await client.aclose()


async def _post(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/webhooks/generic", json={"title": "t"}, headers=headers)


async def test_failed_authentications_are_limited_per_client(client_from, make_source) -> None:
    source = await make_source("nagios")
    guesser, other = client_from("192.0.2.1"), client_from("192.0.2.2")
    assert [(await _post(guesser, BAD)).status_code for _ in range(3)] == [401] * 3
    refused = await _post(guesser, {"X-AIOps-Token": source.token})  # even a good token, from this client
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 120
    assert "failed authentications" in refused.json()["detail"]
    assert (await guesser.get("/api/v1/alerts")).status_code == 429  # every route, bearer tokens too
    assert (await _post(other, {"X-AIOps-Token": source.token})).status_code == 202


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_bucket(client_from) -> None:
    proxy = client_from("10.0.0.1")

    def via(forwarded_for: str) -> dict[str, str]:
        return {**BAD, "X-Forwarded-For": forwarded_for}

    assert [(await _post(proxy, via("203.0.113.7"))).status_code for _ in range(3)] == [401] * 3
    assert (await _post(proxy, via("203.0.113.7"))).status_code == 429
    assert (await _post(proxy, via("203.0.113.8"))).status_code == 401  # another user behind the same proxy
    # Only the rightmost untrusted hop counts: what the client itself wrote to the left is not believed.
    assert (await _post(proxy, via("198.51.100.1, 203.0.113.7"))).status_code == 429


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(client_from) -> None:
    direct = client_from("192.0.2.9")
    statuses = [(await _post(direct, {**BAD, "X-Forwarded-For": f"203.0.113.{i}"})).status_code for i in range(4)]
    assert statuses == [401] * 3 + [429]
