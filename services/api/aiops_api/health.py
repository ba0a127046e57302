"""/health (the process answers), /ready (every dependency answers) and /metrics (Prometheus)."""

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import State

from aiops_api import instrumentation
from aiops_api.deps import Viewer
from aiops_contracts.bus import Bus
from aiops_contracts.outbound import redacted_urls
from aiops_contracts.streams import ALL_STREAMS

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


@router.get("/health", operation_id="health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", operation_id="ready", responses={503: {"description": "a dependency is unavailable"}})
async def ready(request: Request) -> JSONResponse:
    report = await request.app.state.readiness.report(request.app.state)
    failing = [name for name, result in report.items() if result != "ok"]
    body = {"status": "unavailable" if failing else "ready", "failing": failing, "checks": report}
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def prometheus_metrics(request: Request, _: Viewer) -> Response:
    """Prometheus scrapes with a machine token: `python -m aiops_api.auth token prometheus viewer --minutes N`."""
    await _refresh_stream_gauges(request.app.state.bus)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Readiness:
    """/ready needs no token, so its checks must not multiply with its callers: an answer is reused for
    READY_CACHE_SECONDS, and probes that arrive while a check runs wait for that one."""

    def __init__(self, cache_seconds: float) -> None:
        self.cache_seconds = cache_seconds
        self._lock = asyncio.Lock()
        self._checked: tuple[float, dict[str, str]] = (-math.inf, {})

    async def report(self, state: State) -> dict[str, str]:
        async with self._lock:
            checked_at, report = self._checked
            if time.monotonic() - checked_at >= self.cache_seconds:
                report = await store_health(state)
                self._checked = (time.monotonic(), report)
            return report


async def store_health(state: State) -> dict[str, str]:
    """Each store's answer, checked at once: "ok" or "error: <exception class>" (never raises; each check is
    time-bounded). /ready needs no token, so the error's text, which may name internal hosts, a database user or
    a URL with its password (INFLUX_URL=http://user:pass@host), goes only to the log, its URLs redacted."""
    checks: dict[str, Callable[[], Awaitable[object]]] = {
        "redis": state.redis.ping,
        "postgres": lambda: _postgres(state.engine),
        "influxdb": lambda: _http_ok(state.http, f"{state.settings.influx_url}/ping"),
        "chromadb": lambda: _http_ok(state.http, f"{state.settings.chroma_url}/api/v2/heartbeat"),
    }
    results = await asyncio.gather(*(_run(name, check) for name, check in checks.items()))
    return dict(zip(checks, results, strict=True))


async def _run(name: str, check: Callable[[], Awaitable[object]]) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        return "ok"
    except Exception as exc:  # a readiness probe reports any failure instead of raising it
        log.warning("store check failed", extra={"store": name, "error": redacted_urls(f"{exc!r}")[:1_000]})
        return f"error: {type(exc).__name__}"


async def _postgres(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _http_ok(http: httpx.AsyncClient, url: str) -> None:
    response = await http.get(url)
    response.raise_for_status()


async def _refresh_stream_gauges(bus: Bus) -> None:
    """Stream length, group lag and pending are properties of Redis, read at scrape time."""
    async with bus.redis.pipeline(transaction=False) as pipe:
        for stream in ALL_STREAMS:
            pipe.xlen(bus.key(stream))
            pipe.xlen(bus.dead_letter_key(stream))
        lengths = await pipe.execute()
    for i, stream in enumerate(ALL_STREAMS):
        instrumentation.STREAM_LENGTH.labels(stream.name).set(lengths[2 * i])
        instrumentation.DEAD_LETTERS.labels(stream.name).set(lengths[2 * i + 1])
        if not lengths[2 * i]:
            continue
        for group in await bus.redis.xinfo_groups(bus.key(stream)):
            name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
            instrumentation.STREAM_LAG.labels(stream.name, name).set(group.get("lag") or 0)
            instrumentation.STREAM_PENDING.labels(stream.name, name).set(group["pending"])
