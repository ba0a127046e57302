"""The pollers' HTTP client (producers/http.py) against local servers: a redirect to another origin is not
followed (the poller's secrets would go with it: API key headers, a Redfish session token, a login body),
one within the source's own origin is; an answer bigger than a poll reads fails it, unread past the limit."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yarl
from aiohttp import web

from aiops_contracts.pollers import poller_settings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.datadog import DatadogPoller
from aiops_worker.producers.http import MAX_BODY_BYTES, HttpApi, same_origin
from aiops_worker.producers.poller import CheckFailed, PolledSource
from aiops_worker.producers.redfish import RedfishPoller
from conftest import CHUNK, StreamedAnswer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """Answers every request with `handler`, keeping what it received (method, path, headers, body)."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.url, self.received = handler, "", list[tuple[str, str, dict[str, str], bytes]]()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((request.method, request.path, dict(request.headers), await request.read()))
        return await self.handler(request)


@pytest.fixture
def serve_on(serve) -> Callable[[str, Handler], Awaitable[Server]]:
    """`await serve_on("127.0.0.2", handler)`: a server on a free port of that loopback address."""
    async def start(host: str, handler: Handler) -> Server:
        return await serve(Server(handler), host)
    return start


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


@pytest.mark.parametrize(("base", "location"), [
    ("https://bmc.example", "https://bmc.example:443/redfish/v1"),
    ("https://bmc.example:443", "https://bmc.example/redfish/v1"),
    ("http://api.example", "http://API.example:80/v1?page=2"),
    ("http://api.example:8080", "http://api.example:8080/v1"),
])
def test_an_origin_is_the_same_whether_or_not_its_default_port_is_spelled(base: str, location: str) -> None:
    assert same_origin(yarl.URL(location), yarl.URL(base))


def test_a_pagination_link_spelling_the_default_port_stays_on_the_source() -> None:
    api = HttpApi("https://api.example")
    assert api.url("https://api.example:443/v1/events?page=2") == "https://api.example:443/v1/events?page=2"
    with pytest.raises(CheckFailed, match="another server"):
        api.url("https://api.example:8443/v1/events?page=2")


@pytest.mark.parametrize("path", [
    ".attacker.example/x",  # glued: bmc1.example.com.attacker.example
    "@attacker.example/x",  # glued: the base URL's host as user name, attacker.example as host
    ":1@10.0.0.5:8080/admin",  # glued: host 10.0.0.5, port 8080
    "//attacker.example/x", "redfish/v1", "\\attacker.example/x", "?page=2", "",
])
def test_a_path_that_is_not_absolute_is_refused_as_it_could_name_another_server(path: str) -> None:
    """Paths come from the API's answers (a BMC's @odata.id, a Location): glued to the base URL, these would
    send the source's credentials elsewhere."""
    api = HttpApi("https://bmc1.example.com")
    with pytest.raises(CheckFailed, match="not a path on the source") as failed:
        api.url(path)
    assert failed.value.stage == "protocol"


def test_an_absolute_path_is_under_the_base_url() -> None:
    api = HttpApi("https://bmc1.example.com:8443/prefix")
    assert api.url("/redfish/v1/Systems/1") == "https://bmc1.example.com:8443/prefix/redfish/v1/Systems/1"
    assert api.url("/v1/events?next=@x:1") == "https://bmc1.example.com:8443/prefix/v1/events?next=@x:1"


async def test_a_bmc_member_naming_another_server_gets_no_request_nor_the_session_token(serve_on) -> None:
    other = await serve_on("127.0.0.2", answer_ok)

    async def members_elsewhere(request: web.Request) -> web.StreamResponse:
        if request.path == "/redfish/v1/Systems":
            host_port = other.url.removeprefix("http://")
            return web.json_response({"Members": [{"@odata.id": f"@{host_port}/redfish/v1/Systems/1"}]})
        return await answer_ok(request)

    bmc = await serve_on("127.0.0.1", members_elsewhere)
    poller = RedfishPoller(source(SourceKind.redfish, bmc.url, {"username": "root", "events": False},
                                  {"password": "calvin"}))
    try:
        with pytest.raises(CheckFailed, match="not a path on the source"):
            await poller.poll()
    finally:
        await poller.aclose()
    assert other.received == []


@pytest.mark.parametrize(("base", "location"), [
    ("https://bmc.example", "https://bmc.example:8443/redfish/v1"),
    ("https://bmc.example", "http://bmc.example/redfish/v1"),
    ("http://bmc.example", "https://bmc.example/redfish/v1"),
    ("http://bmc.example", "http://bmc.example:443/redfish/v1"),
    ("https://bmc.example", "https://other.example/redfish/v1"),
])
def test_another_port_scheme_or_host_is_another_origin(base: str, location: str) -> None:
    assert not same_origin(yarl.URL(location), yarl.URL(base))


async def test_a_redirect_from_http_to_https_is_not_followed_and_says_the_scheme_changed(serve_on) -> None:
    async def upgrade(request: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": f"https://{request.host}{request.path_qs}"})

    vendor = await serve_on("127.0.0.1", upgrade)
    api = HttpApi(vendor.url, headers={"DD-API-KEY": "dd-api-secret"})
    try:
        with pytest.raises(CheckFailed) as failed:
            await api.request_json("GET", "/api/v1/query")
    finally:
        await api.aclose()
    https_url = vendor.url.replace("http://", "https://")
    assert failed.value.stage == "protocol"
    assert f"redirected from http to https ({https_url})" in failed.value.message
    assert f"set the source's URL to {https_url}" in failed.value.message
    assert len(vendor.received) == 1


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


HUGE = 64 * 1024 * 1024  # four times what a poll reads (MAX_BODY_BYTES)


def json_answer(status: int, size: int, declared: bool = False) -> StreamedAnswer:
    """`{"series": []}` spread over `size` bytes of spaces."""
    return StreamedAnswer(size, declared, status=status, content_type="application/json", first=b'{"series": []',
                          fill=b" " * CHUNK, last=b"}")


@pytest.mark.parametrize("declared", [False, True])
async def test_a_json_answer_over_the_limit_fails_the_poll_without_being_read_whole(serve_on, declared: bool) -> None:
    huge = json_answer(200, HUGE, declared)
    vendor = await serve_on("127.0.0.1", huge.__call__)
    poller = DatadogPoller(source(SourceKind.datadog, vendor.url, {"metric_queries": ["avg:system.cpu.user{*}"]},
                                  {"api_key": "k", "application_key": "a"}))
    try:
        with pytest.raises(CheckFailed, match=f"over the {MAX_BODY_BYTES} bytes a poll reads") as failed:
            await poller.poll()
    finally:
        await poller.aclose()
    assert failed.value.stage == "protocol" and "GET /api/v1/query" in failed.value.message
    await asyncio.wait_for(huge.ended.wait(), 30)
    assert not huge.completed  # the connection was closed, not read to its end


async def test_an_error_answers_body_is_read_only_as_far_as_its_message_needs(serve_on) -> None:
    huge = json_answer(500, HUGE)
    vendor = await serve_on("127.0.0.1", huge.__call__)
    api = HttpApi(vendor.url)
    try:
        with pytest.raises(CheckFailed, match='GET /api/v1/query: 500 Internal Server Error {"series": \\[\\] *$'):
            await api.request_json("GET", "/api/v1/query")
    finally:
        await api.aclose()
    await asyncio.wait_for(huge.ended.wait(), 30)
    assert not huge.completed


async def test_an_answer_within_the_limit_is_read_as_before(serve_on) -> None:
    fitting = json_answer(200, 4 * 65536)
    vendor = await serve_on("127.0.0.1", fitting.__call__)
    api = HttpApi(vendor.url)
    try:
        assert await api.request_json("GET", "/api/v1/query") == {"series": []}
    finally:
        await api.aclose()
    assert fitting.completed


async def test_large_error_answers_do_not_use_up_the_pollers_connections(serve_on) -> None:
    """More big error answers than the session keeps connections per host (4), on one HttpApi left open as a
    poller keeps it: each fails at once with its message and the next good request is still answered."""
    errors = [json_answer(500, 4 * 1024 * 1024) for _ in range(6)]

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/api/good":
            return await answer_ok(request)
        return await errors[int(request.query["n"])](request)

    vendor = await serve_on("127.0.0.1", answer)
    api = HttpApi(vendor.url)
    try:
        for n in range(len(errors)):
            with pytest.raises(CheckFailed, match="GET /api/bad: 500 Internal Server Error"):
                await asyncio.wait_for(api.request_json("GET", "/api/bad", params={"n": n}), 10)
        assert await asyncio.wait_for(api.request_json("GET", "/api/good"), 10) == {"series": [], "Members": []}
    finally:
        await api.aclose()
