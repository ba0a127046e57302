"""POST /webhooks/alertmanager: Alertmanager's webhook_config notifications (version 4) become alerts keyed by
Alertmanager's fingerprint; an outage answers 503 with Retry-After, never a 4xx that Alertmanager would drop."""

import base64
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from redis import Redis as SyncRedis

from aiops_api.main import create_app
from aiops_api.webhooks.alertmanager import parse_alertmanager, to_alert
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED

PAYLOADS = Path(__file__).parent / "payloads" / "alertmanager"


@pytest.fixture
async def token(make_source) -> str:
    return (await make_source("prometheus", kind="alertmanager")).token


async def stream_alerts(redis) -> list[dict]:
    """Alerts this test's source put on the stream (other test runs may share the Redis database)."""
    envelopes = [Envelope.from_entry(fields) for _, fields in await redis.xrange(ALERTS_INGESTED.name)]
    return [e.payload for e in envelopes if e.source == "prometheus" and e.type == "alert.received"]


def test_firing_notification_maps_each_alert() -> None:
    notification = parse_alertmanager((PAYLOADS / "firing.json").read_bytes())
    cpu, disk = (to_alert(notification, a) for a in notification.alerts)
    assert (cpu.fingerprint, cpu.title, cpu.severity, cpu.status) == ("c0ffee00deadbeef", "CPU above 95% on web-01",
                                                                      "critical", "firing")
    assert (cpu.host, cpu.service) == ("web-01:9100", "node")
    assert cpu.url.startswith("http://prometheus:9090/graph")
    assert cpu.details["group_key"] == '{}:{job="node"}' and cpu.details["ends_at"] is None
    assert (disk.severity, disk.labels["mountpoint"]) == ("medium", "/var")  # warning -> medium


def test_resolved_alert_keeps_the_fingerprint_and_its_end_time() -> None:
    notification = parse_alertmanager((PAYLOADS / "resolved.json").read_bytes())
    (alert,) = (to_alert(notification, a) for a in notification.alerts)
    assert (alert.fingerprint, alert.status) == ("c0ffee00deadbeef", "resolved")
    assert alert.occurred_at.isoformat() == "2026-11-23T18:20:00+00:00"


async def test_firing_then_resolved_with_bearer_and_basic_auth(client, redis, token) -> None:
    bearer = {"Authorization": f"Bearer {token}"}
    response = await client.post("/webhooks/alertmanager", content=(PAYLOADS / "firing.json").read_bytes(),
                                 headers=bearer)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    basic = {"Authorization": "Basic " + base64.b64encode(f"alertmanager:{token}".encode()).decode()}
    response = await client.post("/webhooks/alertmanager", content=(PAYLOADS / "resolved.json").read_bytes(),
                                 headers=basic)
    assert response.status_code == 200
    alerts = await stream_alerts(redis)
    assert [(a["fingerprint"], a["status"]) for a in alerts] == [
        ("c0ffee00deadbeef", "firing"), ("0123456789abcdef", "firing"), ("c0ffee00deadbeef", "resolved")]


def odd_notification() -> bytes:
    """Valid for Alertmanager, odd for us: an over-long fingerprint, an empty alertname and no summary, no labels."""
    base = {"status": "firing", "startsAt": "2026-11-23T18:00:00Z"}
    return orjson.dumps({"status": "firing", "alerts": [
        {**base, "labels": {"alertname": "Long", "severity": "critical"}, "fingerprint": "f" * 200},
        {**base, "labels": {"alertname": "", "instance": "web-01:9100", "job": "node"}, "annotations": {"summary": ""}},
        {**base, "labels": {}},
    ]})


def test_odd_but_valid_alerts_are_normalised() -> None:
    notification = parse_alertmanager(odd_notification())
    long, unnamed, bare = (to_alert(notification, a) for a in notification.alerts)
    assert len(long.fingerprint) <= 128
    near_twin = notification.alerts[0].model_copy(update={"fingerprint": "f" * 199 + "e"})
    assert to_alert(notification, near_twin).fingerprint != long.fingerprint  # a digest, not a cut
    assert unnamed.title == '{alertname="", instance="web-01:9100", job="node"}'
    assert (bare.title, len(bare.fingerprint)) == ("Alertmanager alert", 32)


async def test_odd_but_valid_alerts_are_accepted(client, redis, token) -> None:
    """Alertmanager would retry a 5xx forever: a notification it considers valid must land."""
    response = await client.post("/webhooks/alertmanager", content=odd_notification(),
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert [a["title"] for a in await stream_alerts(redis)] == [
        "Long", '{alertname="", instance="web-01:9100", job="node"}', "Alertmanager alert"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [(b"{not json", "JSON"), (b'{"status": "firing"}', "alerts"),
     (b'{"status": "firing", "alerts": [{"status": "exploded", "startsAt": "2026-01-01T00:00:00Z"}]}', "status")],
)
async def test_bodies_that_are_not_notifications_get_400(client, redis, token, body, problem) -> None:
    response = await client.post("/webhooks/alertmanager", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert await stream_alerts(redis) == []


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of the test's own that the test can take down (the shared one stays up)."""
    sock = tmp_path / "redis.sock"
    process = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"unix://{sock}"
    for _ in range(100):
        try:
            SyncRedis.from_url(url).ping()
            break
        except Exception:  # not listening yet
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait()


async def test_redis_outage_answers_503_with_retry_after(api_settings, clean_db, make_source, private_redis) -> None:
    token = (await make_source("prometheus", kind="alertmanager")).token
    app = create_app(api_settings.model_copy(update={"redis_url": private_redis}))
    async with app.router.lifespan_context(app):
        SyncRedis.from_url(private_redis).shutdown(nosave=True)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await client.post("/webhooks/alertmanager", content=(PAYLOADS / "firing.json").read_bytes(),
                                         headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503  # Alertmanager retries 5xx; a 4xx (429 too) would drop the notification
    assert response.headers["Retry-After"].isdigit()
    assert orjson.loads(response.content)["detail"]
