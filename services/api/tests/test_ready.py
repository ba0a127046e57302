"""/ready needs no token, so its store checks must not multiply with its callers: one check serves every
probe for READY_CACHE_SECONDS. The InfluxDB here is a small local server that counts its /ping requests."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from aiops_api.main import create_app


@pytest.fixture
async def influx_pings() -> AsyncIterator[tuple[str, list[bytes]]]:
    """The URL of an InfluxDB stand-in answering 204 to /ping, and the request lines it received."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                requests.append(head.split(b"\r\n", 1)[0])
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except asyncio.IncompleteReadError:  # the client closed its connection
            writer.close()

    server = await asyncio.start_server(lambda r, w: serve(r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", requests
    server.close()


async def test_ready_checks_the_stores_once_per_cache_period(api_settings, clean_db, redis, influx_pings) -> None:
    url, pings = influx_pings
    app = create_app(api_settings.model_copy(update={"influx_url": url, "ready_cache_seconds": 600}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = await asyncio.gather(*[client.get("/ready") for _ in range(30)])
            answers.append(await client.get("/ready"))
    assert {a.json()["checks"]["influxdb"] for a in answers} == {"ok"}
    assert pings == [b"GET /ping HTTP/1.1"]
