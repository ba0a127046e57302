"""Cross-service: webhook → stream → worker → PostgreSQL → API → WebSocket, with real processes."""

import asyncio
import time

import httpx
import orjson
import pytest
import websockets
from sqlalchemy import func, select

from aiops_contracts.bus import Bus
from aiops_contracts.db import Alert, ProcessedEvent
from aiops_contracts.events import INCIDENT_ENRICHED
from aiops_contracts.streams import ALERTS_INGESTED, WORKER_HEARTBEAT_KEY
from conftest import SERVICE_START_S

pytestmark = pytest.mark.e2e


async def create_source(api, headers, name: str = "e2e") -> str:
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.post("/api/v1/sources", json={"name": name, "kind": "generic"}, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()["token"]


async def next_event(ws) -> dict:
    """The next live event past enrichment announcements: the enrichment loop announces on its own schedule
    (every ENRICHMENT_INTERVAL_S), so one may come between any two of the events a test awaits. The first one
    waits for the worker's start."""
    while (event := orjson.loads(await asyncio.wait_for(ws.recv(), SERVICE_START_S)))["type"] == INCIDENT_ENRICHED:
        pass
    return event


async def stored_count(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(Alert))


async def test_webhook_alert_reaches_the_api_and_the_websocket(start_service, service_headers, clean_db, redis) -> None:
    api = start_service("aiops-api")
    start_service("aiops-worker")
    token = await create_source(api, service_headers())
    ws_url = api.url.replace("http", "ws") + "/ws?token=" + service_headers("viewer")["Authorization"][7:]
    async with websockets.connect(ws_url) as ws, httpx.AsyncClient(base_url=api.url) as client:
        body = {"title": "Disk /var full", "severity": "critical", "host": "web-3"}
        response = await client.post("/webhooks/generic", json=body, headers={"X-AIOps-Token": token})
        assert response.status_code == 202
        (event_id,) = response.json()["event_ids"]
        live = await next_event(ws)
        assert (live["id"], live["type"], live["payload"]["title"]) == (event_id, "alert.stored", "Disk /var full")
        alerts = (await client.get("/api/v1/alerts", params={"host": "web-3"}, headers=service_headers("viewer"))).json()
        assert [a["title"] for a in alerts["items"]] == ["Disk /var full"]
        detail = await client.get(f"/api/v1/alerts/{live['payload']['alert_id']}", headers=service_headers("viewer"))
        assert detail.json()["severity"] == "critical"
        # The stored alert feeds the incident aggregator: an incident for the host, announced live, linked.
        opened = await next_event(ws)
        assert (opened["type"], opened["payload"]["group_key"]) == ("incident.opened", "alert:host:web-3")
        incident_id = opened["payload"]["incident_id"]
        detail = await client.get(f"/api/v1/alerts/{live['payload']['alert_id']}", headers=service_headers("viewer"))
        assert detail.json()["incident_id"] == incident_id
        # An operator resolves it: the change reaches the live channel too.
        resolved = await client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=service_headers("operator"))
        assert (resolved.status_code, resolved.json()["status"]) == (200, "resolved")
        change = await next_event(ws)
        assert (change["type"], change["source"], change["payload"]["incident_id"]) == (
            "incident.resolved", "api", incident_id)


async def test_websocket_refuses_a_missing_token(start_service) -> None:
    api = start_service("aiops-api")
    with pytest.raises(websockets.exceptions.WebSocketException):
        async with websockets.connect(api.url.replace("http", "ws") + "/ws") as ws:
            await asyncio.wait_for(ws.recv(), timeout=30)  # the refusal may take seconds on a loaded machine


async def test_worker_killed_mid_batch_stores_every_alert_exactly_once(
    start_service, service_headers, clean_db, bus: Bus, sessions
) -> None:
    api = start_service("aiops-api")
    worker_env = {"WORKER_NAME": "e2e-worker", "STREAM_BATCH_SIZE": "20"}
    worker = start_service("aiops-worker", **worker_env)
    token = await create_source(api, service_headers())
    async with httpx.AsyncClient(base_url=api.url) as client:
        for start in range(0, 1000, 100):
            batch = [{"title": f"event {i}", "fingerprint": f"fp-{i}"} for i in range(start, start + 100)]
            response = await client.post("/webhooks/generic", json=batch, headers={"X-AIOps-Token": token})
            assert response.status_code == 202
    deadline = time.monotonic() + SERVICE_START_S
    while (stored := await stored_count(sessions)) < 100 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    worker.kill()
    assert 0 < stored < 1000, "the kill must land while the worker is still working"
    start_service("aiops-worker", **worker_env)
    deadline = time.monotonic() + SERVICE_START_S + 60  # its start, then the rest of the 1,000 alerts
    while await stored_count(sessions) < 1000 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    async with sessions() as session:
        counts = (await session.execute(select(Alert.count, func.count()).group_by(Alert.count))).all()
        ledger = await session.scalar(select(func.count()).select_from(ProcessedEvent)
                                      .where(ProcessedEvent.handler == "alerts-store"))
    assert counts == [(1, 1000)]  # 1,000 alerts, each seen exactly once
    assert ledger == 1000
    # The ack follows the commit, so the last batch may still be pending for a moment after it is stored.
    deadline = time.monotonic() + 30
    while (pending := await bus.redis.xpending(bus.key(ALERTS_INGESTED), "alerts-store"))["pending"] and \
            time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert pending["pending"] == 0


async def test_sigterm_finishes_cleanly(start_service, redis, common_settings) -> None:
    worker = start_service("aiops-worker", WORKER_NAME="sigterm-test", HEARTBEAT_INTERVAL_S="0.2")
    heartbeat = common_settings.redis_key(WORKER_HEARTBEAT_KEY, "sigterm-test")
    deadline = time.monotonic() + SERVICE_START_S
    while not await redis.exists(heartbeat) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert await redis.exists(heartbeat), "the worker never started its tasks"
    assert worker.stop() == 0
    assert not await redis.exists(heartbeat)  # the heartbeat task finished its loop and cleaned up
