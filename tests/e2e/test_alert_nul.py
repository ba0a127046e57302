"""An alert holding NUL travels webhook → stream → worker → PostgreSQL. PostgreSQL refuses NUL in text and JSONB:
before, the sender got 202, the alert store retried the entry and dead-lettered it. Now the alert contract replaces
it (as for log lines), and the alert is stored."""

import httpx
import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.streams import ALERTS_INGESTED
from conftest import SERVICE_START_S, until

pytestmark = pytest.mark.e2e


async def test_an_alert_holding_nul_is_stored(bus: Bus, start_service, service_headers, clean_db, redis) -> None:
    api = start_service("aiops-api")
    start_service("aiops-worker", LOG_EMBEDDINGS_ENABLED="false")
    async with httpx.AsyncClient(base_url=api.url, headers=service_headers()) as client, \
            httpx.AsyncClient(base_url=api.url) as sender:
        generic = (await client.post("/api/v1/sources", json={"name": "nul-generic", "kind": "generic"})).json()
        sentry = (await client.post("/api/v1/sources", json={"name": "nul-sentry", "kind": "sentry"})).json()
        body = b'{"title": "disk\\u0000full", "labels": {"mount": "/var\\u0000"}, "details": {"raw": ["\\u0000"]}}'
        response = await sender.post("/webhooks/generic", content=body,
                                     headers={"X-AIOps-Token": generic["token"], "Content-Type": "application/json"})
        assert response.status_code == 202, response.text
        event = b'{"exception": {"values": [{"type": "ValueError", "value": "bad\\u0000byte"}]}}'
        response = await sender.post(f"/api/7/store/?sentry_key={sentry['token']}", content=event)
        assert response.status_code == 200, response.text

        async def stored() -> dict[str, dict]:
            items = (await client.get("/api/v1/alerts")).json()["items"]
            return {item["source"]: item for item in items} if len(items) == 2 else {}

        alerts = await until(stored, SERVICE_START_S, "both alerts stored")
    assert alerts["nul-generic"]["title"] == "disk\ufffdfull"
    assert alerts["nul-generic"]["labels"] == {"mount": "/var\ufffd"}
    assert alerts["nul-sentry"]["title"] == "ValueError: bad\ufffdbyte"
    assert await redis.xlen(bus.dead_letter_key(ALERTS_INGESTED)) == 0
