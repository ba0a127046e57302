"""/ready needs no token, so its store checks must not multiply with its callers (one check serves every
probe for READY_CACHE_SECONDS), and its answer says only "ok" or "error: <exception class>" per store: an
error's text (a URL with its password, a host name, a database user) goes to the log only, URLs redacted. The
InfluxDB here is a small local server that counts its /ping requests."""

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import make_url

from aiops_api.main import create_app
from aiops_contracts.db.session import make_engine


@asynccontextmanager
async def influx_stand_in(status: bytes) -> AsyncIterator[tuple[str, list[bytes]]]:
    """The URL of an InfluxDB stand-in answering `status` to /ping, and the request lines it received."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                requests.append(head.split(b"\r\n", 1)[0])
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except asyncio.IncompleteReadError:  # the client closed its connection
            writer.close()

    server = await asyncio.start_server(lambda r, w: serve(r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", requests
    server.close()


@pytest.fixture
async def influx_pings() -> AsyncIterator[tuple[str, list[bytes]]]:
    async with influx_stand_in(b"204 No Content") as stand_in:
        yield stand_in


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


async def test_ready_shows_no_error_text_and_logs_it_with_urls_redacted(api_settings, clean_db, redis, caplog) -> None:
    """InfluxDB behind a proxy answering 503 at a URL with a password (a supported setup), ChromaDB not
    listening at one, PostgreSQL not listening as user `aiops_probe_user`: the answer names each failing store,
    and the exception class, nothing else."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, never listening: connections to it are refused
        async with influx_stand_in(b"503 Service Unavailable") as (url, _):
            settings = api_settings.model_copy(update={
                "influx_url": url.replace("//", "//reader:influx-s3cret@"),
                "chroma_url": f"http://chroma:chroma-s3cret@127.0.0.1:{closed}"})
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                await app.state.engine.dispose()
                app.state.engine = make_engine(settings.model_copy(update={"database_url": make_url(
                    settings.database_url).set(username="aiops_probe_user", port=closed).render_as_string(False)}))
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    with caplog.at_level(logging.WARNING, logger="aiops_api.health"):
                        ready = await client.get("/ready")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks == {"redis": "ok", "postgres": checks["postgres"], "influxdb": "error: HTTPStatusError",
                      "chromadb": "error: ConnectError"}
    assert re.fullmatch(r"error: \w+", checks["postgres"]), checks
    for secret in ("s3cret", "reader", "aiops_probe_user", "127.0.0.1", str(closed)):
        assert secret not in ready.text
    logged = {record.store: record.error for record in caplog.records if hasattr(record, "store")}
    assert set(logged) == {"postgres", "influxdb", "chromadb"}
    assert f"{url}/ping" not in logged["influxdb"] and url in logged["influxdb"] and "503" in logged["influxdb"]
    assert not any("s3cret" in error for error in logged.values())
