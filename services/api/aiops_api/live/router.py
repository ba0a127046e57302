"""WebSocket of live events: `/ws` streams every stored alert and incident change.

The access token comes as a subprotocol, so it stays out of URLs and access logs: browsers open
`new WebSocket(url, ["aiops.live", "bearer." + token])` and the server answers with `aiops.live`. Tools that
cannot set subprotocols may use `/ws?token=<access token>` instead.

The server closes the connection with 1008 (policy violation) and says why when the token is missing or
invalid, when it expires, when its user is deactivated or deleted (checked every USER_CACHE_SECONDS), and
when the subject already has LIVE_MAX_CONNECTIONS_PER_USER connections open; the client reconnects with a
fresh token.
"""

import asyncio
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from starlette.datastructures import State

from aiops_api.auth.tokens import InvalidToken, Principal, decode_access_token
from aiops_api.live.connections import Slot

router = APIRouter()

SUBPROTOCOL = "aiops.live"
TOKEN_SUBPROTOCOL_PREFIX = "bearer."
MIN_CHECK_INTERVAL_S = 0.5


@router.websocket("/ws")
async def live_events(websocket: WebSocket, token: str = "") -> None:
    offered = websocket.scope.get("subprotocols") or []
    state = websocket.app.state
    slot = None
    try:  # released however the connection ends, a handshake the client dropped included
        try:  # before the handshake completes, so that an open connection holds its slot
            principal = await _authenticate(state, _token(offered) or token)
            slot = await state.live_slots.acquire(principal.subject)
            refusal = None if slot else ("too many live connections for this user: at most "
                                         f"{state.settings.live_max_connections_per_user}")
        except InvalidToken as exc:
            refusal = str(exc)
        # Accepted, then closed with the reason: browsers see neither the status nor the body of a refused handshake.
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        if refusal:
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=refusal)
            return
        await _stream(websocket, principal, slot)
    finally:
        if slot:
            await state.live_slots.release(slot)


async def _stream(websocket: WebSocket, principal: Principal, slot: Slot) -> None:
    broadcaster = websocket.app.state.broadcaster
    queue = broadcaster.subscribe()
    # Watching the receive side notices a client that left even when no event is flowing.
    closed_by_client = asyncio.create_task(_wait_for_close(websocket))
    ended = asyncio.create_task(_watch(websocket.app.state, principal, slot))
    try:
        while True:
            next_event = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({next_event, closed_by_client, ended}, return_when=asyncio.FIRST_COMPLETED)
            if next_event not in done:
                next_event.cancel()
            if closed_by_client in done:
                return
            if ended in done:
                await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=ended.result())
                return
            batch = next_event.result()
            if batch is None:
                await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER, reason="client too slow")
                return
            for envelope in batch:  # one envelope per WebSocket message
                await websocket.send_text(envelope)
    except WebSocketDisconnect:
        pass
    finally:
        closed_by_client.cancel()
        ended.cancel()
        broadcaster.unsubscribe(queue)


async def _watch(state: State, principal: Principal, slot: Slot) -> str:
    """Returns, as the close reason, why the connection must end: its token expired or its user is gone."""
    interval = max(state.settings.user_cache_seconds, MIN_CHECK_INTERVAL_S)
    while (left := principal.expires_at - time.time()) > 0:
        await asyncio.sleep(min(interval, left))
        try:
            await state.accounts.authorize(principal)
        except InvalidToken as exc:
            return str(exc)
        await state.live_slots.renew(slot)
    return "token expired"


def _token(offered: list[str]) -> str:
    return next((p[len(TOKEN_SUBPROTOCOL_PREFIX):] for p in offered if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)), "")


async def _authenticate(state: State, token: str) -> Principal:
    try:
        principal = decode_access_token(state.settings, token)
    except InvalidToken as exc:
        raise InvalidToken("invalid, expired or missing token") from exc
    return await state.accounts.authorize(principal)


async def _wait_for_close(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends until it disconnects."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return
