"""The tests' local servers speaking third-party APIs (GitHub, Jenkins): served on a free port of 127.0.0.1 (or
another loopback address) until the test ends."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """`api = await serve(api)`: serves `api.app` and sets `api.url` to its base URL (`host=` another loopback
    address, 127.0.0.2, for a server of another origin)."""
    runners: list[web.AppRunner] = []

    async def start(api: Any, host: str = "127.0.0.1") -> Any:
        runner = web.AppRunner(api.app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, host, 0)
        await site.start()
        api.url = f"http://{host}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return api

    yield start
    for runner in runners:
        await runner.cleanup()
