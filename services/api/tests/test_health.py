"""/health, /ready and /metrics."""

import httpx

from aiops_api.auth.tokens import Role
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED


async def test_health_and_ready_with_every_store_up(client) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"redis", "postgres", "influxdb", "chromadb"}


async def test_ready_names_the_failing_dependency(app, client) -> None:
    app.state.settings = app.state.settings.model_copy(update={"chroma_url": "http://127.0.0.1:9"})
    ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["chromadb"]


async def test_metrics_exposes_requests_and_streams(client, bus: Bus, auth) -> None:
    """Read on the bus's (prefixed) streams, labelled with the stream's own name."""
    await bus.publish(ALERTS_INGESTED, Envelope(type="alert.received", source="test"))
    await bus.ensure_group(ALERTS_INGESTED, "alerts-store")
    await client.get("/health")
    assert (await client.get("/metrics")).status_code == 401  # scraped with a machine token
    text = (await client.get("/metrics", headers=auth(Role.viewer))).text
    assert 'aiops_api_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'aiops_stream_group_lag{group="alerts-store",stream="aiops:alerts:ingested"} 1.0' in text
    assert isinstance(text, str) and httpx
