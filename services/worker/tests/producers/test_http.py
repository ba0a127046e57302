"""The pollers' HTTP client (producers/http.py) against local servers: a redirect to another origin is not
followed (the poller's secrets would go with it: API key headers, a Redfish session token, a login body),
one within the source's own origin is."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from aiops_contracts.pollers import poller_settings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.datadog import DatadogPoller
from aiops_worker.producers.http import HttpApi
from aiops_worker.producers.poller import CheckFailed, PolledSource
from aiops_worker.producers.redfish import RedfishPoller

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """Answers every request with `handler`, keeping what it received (method, path, headers, body)."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.url, self.received = handler, "", list[tuple[str, str, dict[str, str], bytes]]()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((request.method, request.path, dict(request.headers), await request.read()))
        return await self.handler(request)


@pytest.fixture
async def serve_on() -> AsyncIterator[Callable[[str, Handler], Awaitable[Server]]]:
    """`await serve_on("127.0.0.2", handler)`: a server on a free port of that loopback address."""
    runners: list[web.AppRunner] = []

    async def start(host: str, handler: Handler) -> Server:
        server = Server(handler)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, host, 0)
        await site.start()
        server.url = f"http://{host}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return server

    yield start
    for runner in runners:
        await runner.cleanup()


async def answer_ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"series": [], "Members": []}, headers={"X-Auth-Token": "session-token"})


def redirecting_to(target: Server, status: int = 302) -> Handler:
    async def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": target.url + request.path_qs})
    return redirect


def source(kind: SourceKind, url: str, config: dict[str, Any], credentials: dict[str, str]) -> PolledSource:
    return PolledSource("id-1", f"{kind.value}-1", kind, url, 60.0, {}, poller_settings(kind.value, config, credentials))


async def test_datadog_keys_do_not_follow_a_redirect_to_another_origin(serve_on) -> None:
    other = await serve_on("127.0.0.2", answer_ok)
    vendor = await serve_on("127.0.0.1", redirecting_to(other))
    poller = DatadogPoller(source(SourceKind.datadog, vendor.url, {"metric_queries": ["avg:system.cpu.user{*}"]},
                                  {"api_key": "dd-api-secret", "application_key": "dd-app-secret"}))
    try:
        with pytest.raises(CheckFailed) as failed:
            await poller.poll()
    finally:
        await poller.aclose()
    assert failed.value.stage == "protocol"
    assert f"redirected to another server ({other.url})" in failed.value.message
    assert "GET /api/v1/query" in failed.value.message
    assert other.received == []


@pytest.mark.parametrize("status", [307, 308])
async def test_a_redfish_login_is_not_resent_to_another_origin(serve_on, status: int) -> None:
    other = await serve_on("127.0.0.2", answer_ok)
    bmc = await serve_on("127.0.0.1", redirecting_to(other, status))
    poller = RedfishPoller(source(SourceKind.redfish, bmc.url, {"username": "root", "events": False},
                                  {"password": "calvin"}))
    try:
        with pytest.raises(CheckFailed, match="redirected to another server"):
            await poller.poll()
    finally:
        await poller.aclose()
    assert [(method, path) for method, path, _, _ in bmc.received] == [
        ("POST", "/redfish/v1/SessionService/Sessions")]
    assert other.received == []


async def test_a_redirect_within_the_same_origin_is_followed_with_its_headers(serve_on) -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        if request.path == "/api/old":
            return web.Response(status=301, headers={"Location": "/api/new"})
        return web.json_response({"path": request.path})

    vendor = await serve_on("127.0.0.1", moved)
    api = HttpApi(vendor.url, headers={"DD-API-KEY": "dd-api-secret"})
    try:
        assert await api.request_json("GET", "/api/old") == {"path": "/api/new"}
    finally:
        await api.aclose()
    assert [(path, headers.get("DD-API-KEY")) for _, path, headers, _ in vendor.received] == [
        ("/api/old", "dd-api-secret"), ("/api/new", "dd-api-secret")]


async def test_a_redirect_loop_within_the_origin_ends_with_a_clear_error(serve_on) -> None:
    async def loop(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": request.path})

    vendor = await serve_on("127.0.0.1", loop)
    api = HttpApi(vendor.url)
    try:
        with pytest.raises(CheckFailed, match="too many redirects"):
            await api.request_json("GET", "/api/loop")
    finally:
        await api.aclose()
