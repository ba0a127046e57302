"""The live WebSocket against a real API process: the token travels as a subprotocol (or, for tools, in the
query), and the server closes with 1008 when the token expires, when its user is deactivated, and past the
connection limit per user. A broadcast batch larger than a client's queue reaches it whole, an envelope a message.
A client that drops during the handshake gives its slot back at once (in process: no real client can be made to
fail the server's accept at will)."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import websockets
from starlette.websockets import WebSocket
from websockets.exceptions import ConnectionClosed

from aiops_api.auth.tokens import Role
from aiops_api.live.connections import KEY_PREFIX
from aiops_api.live.router import live_events
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from conftest import TEST_JWT_SECRET, until

USER_PASSWORD = "Correct-Horse-Battery-42"
ENV = {"USER_CACHE_SECONDS": "0.5", "LIVE_MAX_CONNECTIONS_PER_USER": "2"}


@pytest.fixture
def api(start_service, clean_db, redis):
    return start_service("aiops-api", **ENV)


def _ws(api) -> str:
    return api.url.replace("http", "ws") + "/ws"


def _token(subject: str, seconds: float) -> str:
    now = datetime.now(UTC)
    claims = {"sub": subject, "role": "viewer", "iat": now, "exp": now + timedelta(seconds=seconds), "typ": "access"}
    return jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")


async def _closed(ws, timeout_s: float = 20.0) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout_s)
    return closed.value


async def test_the_token_as_a_subprotocol_is_accepted(api) -> None:
    async with websockets.connect(_ws(api), subprotocols=["aiops.live", f"bearer.{_token('tool', 60)}"]) as ws:
        assert ws.subprotocol == "aiops.live"  # the token itself is never echoed
        await ws.ping()


async def test_the_connection_closes_when_its_token_expires(api) -> None:
    async with websockets.connect(f"{_ws(api)}?token={_token('short-lived', 2)}") as ws:
        closed = await _closed(ws)
    assert (closed.rcvd.code, closed.rcvd.reason) == (1008, "token expired")


async def test_the_connection_closes_when_its_user_is_deactivated(api, service_headers) -> None:
    async with httpx.AsyncClient(base_url=api.url, headers=service_headers("admin")) as admin:
        user = (await admin.post("/api/v1/users", json={"username": "erin", "password": USER_PASSWORD})).json()
        login = await admin.post("/api/v1/auth/login", data={"username": "erin", "password": USER_PASSWORD})
        token = login.json()["access_token"]
        async with websockets.connect(_ws(api), subprotocols=["aiops.live", f"bearer.{token}"]) as ws:
            await ws.ping()
            assert (await admin.delete(f"/api/v1/users/{user['id']}")).status_code == 200
            closed = await _closed(ws)
    assert (closed.rcvd.code, closed.rcvd.reason) == (1008, "user is deactivated or deleted")


async def _accepted(url: str) -> bool:
    """Whether the server keeps a new connection open: it answers a ping, where it closes a refused one first."""
    async with websockets.connect(url) as ws:
        try:
            await (await ws.ping())  # the pong, not just the ping sent
        except ConnectionClosed:
            return False
    return True


async def test_connections_per_user_are_limited(api) -> None:
    tab = f"{_ws(api)}?token={_token('tabs', 60)}"
    async with websockets.connect(tab), websockets.connect(tab):  # each holds its slot once its handshake is done
        async with websockets.connect(tab) as third:
            closed = await _closed(third)
        assert await _accepted(f"{_ws(api)}?token={_token('someone-else', 60)}")
    assert closed.rcvd.code == 1008 and "too many live connections" in closed.rcvd.reason
    # The server answers a client's close frame before its handler ends and gives the slot back: wait for it.
    await until(lambda: _accepted(tab), 20, "a slot back once the tabs closed")


async def test_a_batch_larger_than_the_client_queue_arrives_whole(start_service, clean_db, bus: Bus) -> None:
    api = start_service("aiops-api", **ENV, LIVE_QUEUE_SIZE="3")
    batch = [Envelope(id=f"batched-{i}", type="test.batched", source="test") for i in range(50)]
    async with websockets.connect(f"{_ws(api)}?token={_token('watcher', 60)}") as ws:
        # The server subscribes the client just after the handshake: probe until one arrives.
        async with asyncio.timeout(20):
            while True:
                await bus.broadcast([Envelope(type="test.probe", source="test")])
                try:
                    await asyncio.wait_for(ws.recv(), 0.2)
                    break
                except TimeoutError:
                    continue
        await bus.broadcast(batch)
        received = []
        async with asyncio.timeout(20):
            while len(received) < len(batch):
                envelope = json.loads(await ws.recv())
                if envelope["type"] == "test.batched":
                    received.append(envelope["id"])
        assert received == [e.id for e in batch]
        await ws.ping()  # still connected


async def test_a_handshake_dropped_by_the_client_gives_its_slot_back(app, redis, token_for) -> None:
    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        if message["type"] == "websocket.accept":
            raise OSError("the client left during the handshake")  # as the server's send does then

    scope = {"type": "websocket", "app": app, "path": "/ws", "headers": [], "query_string": b"", "subprotocols": []}
    with pytest.raises(OSError):
        await live_events(WebSocket(scope, receive, send), token=token_for(Role.viewer))
    assert await redis.keys(f"{app.state.settings.redis_key(KEY_PREFIX)}:*") == []
