"""The pollers' HTTP client (aiohttp) connects only to addresses vetted as they are resolved: a name rebinding
to the metadata address after the source was checked fails the poll at `tcp` before any request is sent, a
redirect to that address is not followed, and a vetted name is connected to at the address it was vetted with.
Names are resolved by a resolver the test gives (as a rebinding DNS server would answer); HTTP is real."""

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from aiops_contracts.outbound import OutboundPolicy
from aiops_worker.producers.http import HttpApi
from aiops_worker.producers.poller import CheckFailed


def resolving_to(address: str) -> OutboundPolicy:
    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return OutboundPolicy(resolve=resolve)


@pytest.fixture
async def inventory() -> AsyncIterator[tuple[int, list[str]]]:
    """A local JSON API on loopback: its port and the Host headers of the requests it got."""
    hosts: list[str] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        hosts.append(request.host)
        if request.path == "/moved":
            raise web.HTTPTemporaryRedirect("http://169.254.169.254/latest/meta-data/")
        return web.json_response({"hosts": 1})

    app = web.Application()
    app.router.add_get("/{path:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1], hosts
    await runner.cleanup()


async def call(api: HttpApi, path: str) -> object:
    try:
        return await api.request_json("GET", path)
    finally:
        await api.aclose()


async def test_a_name_rebinding_to_the_metadata_address_fails_the_poll_before_any_request(inventory) -> None:
    port, hosts = inventory
    api = HttpApi(f"http://inventory.example.test:{port}", policy=resolving_to("169.254.169.254"))
    with pytest.raises(CheckFailed) as failed:
        await call(api, "/api/hosts")
    assert failed.value.stage == "tcp" and "169.254.169.254" in failed.value.message
    assert hosts == []


async def test_a_redirect_to_the_metadata_address_is_not_followed(inventory) -> None:
    port, hosts = inventory
    with pytest.raises(CheckFailed) as failed:
        await call(HttpApi(f"http://127.0.0.1:{port}"), "/moved")
    # another origin: refused before any connection to it (beb136c), so the guard is not even asked
    assert failed.value.stage == "protocol" and "169.254.169.254" in failed.value.message
    assert hosts == [f"127.0.0.1:{port}"]


async def test_a_vetted_name_is_connected_to_at_its_vetted_address(inventory) -> None:
    port, hosts = inventory
    api = HttpApi(f"http://inventory.example.test:{port}", policy=resolving_to("127.0.0.1"))  # in no real DNS
    assert await call(api, "/api/hosts") == {"hosts": 1}
    assert hosts == [f"inventory.example.test:{port}"]
