"""WebSocket of live events: `/ws?token=<access token>` streams every stored alert and incident change."""

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from aiops_api.auth.tokens import InvalidToken, decode_access_token

router = APIRouter()


@router.websocket("/ws")
async def live_events(websocket: WebSocket, token: str = "") -> None:
    try:
        decode_access_token(websocket.app.state.settings, token)
    except InvalidToken:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid or missing token")
        return
    await websocket.accept()
    broadcaster = websocket.app.state.broadcaster
    queue = broadcaster.subscribe()
    # Watching the receive side notices a client that left even when no event is flowing.
    closed_by_client = asyncio.create_task(_wait_for_close(websocket))
    try:
        while True:
            next_event = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({next_event, closed_by_client}, return_when=asyncio.FIRST_COMPLETED)
            if closed_by_client in done:
                next_event.cancel()
                return
            data = next_event.result()
            if data is None:
                await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER, reason="client too slow")
                return
            await websocket.send_text(data)
    except WebSocketDisconnect:
        pass
    finally:
        closed_by_client.cancel()
        broadcaster.unsubscribe(queue)


async def _wait_for_close(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends until it disconnects."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return
