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
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ANNOTATION_VALUE_MAX_CHARS, LABEL_VALUE_MAX_CHARS, URL_MAX_CHARS
from aiops_contracts.streams import ALERTS_INGESTED

PAYLOADS = Path(__file__).parent / "payloads" / "alertmanager"
MAX_ALERTS = 1_000  # WEBHOOK_MAX_ITEMS


@pytest.fixture
async def token(make_source) -> str:
    return (await make_source("prometheus", kind="alertmanager")).token


async def stream_alerts(bus: Bus) -> list[dict]:
    """Alerts this test's source put on the stream (other test runs may share the Redis database)."""
    envelopes = [Envelope.from_entry(fields) for _, fields in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]
    return [e.payload for e in envelopes if e.source == "prometheus" and e.type == "alert.received"]


def test_firing_notification_maps_each_alert() -> None:
    notification = parse_alertmanager((PAYLOADS / "firing.json").read_bytes(), MAX_ALERTS)
    cpu, disk = (to_alert(notification, a) for a in notification.alerts)
    assert (cpu.fingerprint, cpu.title, cpu.severity, cpu.status) == ("c0ffee00deadbeef", "CPU above 95% on web-01",
                                                                      "critical", "firing")
    assert (cpu.host, cpu.service, cpu.signal) == ("web-01:9100", "node", "alert")
    assert cpu.url.startswith("http://prometheus:9090/graph")
    assert cpu.details["group_key"] == '{}:{job="node"}' and cpu.details["ends_at"] is None
    assert (disk.severity, disk.labels["mountpoint"]) == ("medium", "/var")  # warning -> medium


def test_resolved_alert_keeps_the_fingerprint_and_its_end_time() -> None:
    notification = parse_alertmanager((PAYLOADS / "resolved.json").read_bytes(), MAX_ALERTS)
    (alert,) = (to_alert(notification, a) for a in notification.alerts)
    assert (alert.fingerprint, alert.status) == ("c0ffee00deadbeef", "resolved")
    assert alert.occurred_at.isoformat() == "2026-11-23T18:20:00+00:00"


async def test_firing_then_resolved_with_bearer_and_basic_auth(bus: Bus, client, redis, token) -> None:
    bearer = {"Authorization": f"Bearer {token}"}
    response = await client.post("/webhooks/alertmanager", content=(PAYLOADS / "firing.json").read_bytes(),
                                 headers=bearer)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    basic = {"Authorization": "Basic " + base64.b64encode(f"alertmanager:{token}".encode()).decode()}
    response = await client.post("/webhooks/alertmanager", content=(PAYLOADS / "resolved.json").read_bytes(),
                                 headers=basic)
    assert response.status_code == 200
    alerts = await stream_alerts(bus)
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
    notification = parse_alertmanager(odd_notification(), MAX_ALERTS)
    long, unnamed, bare = (to_alert(notification, a) for a in notification.alerts)
    assert len(long.fingerprint) <= 128
    near_twin = notification.alerts[0].model_copy(update={"fingerprint": "f" * 199 + "e"})
    assert to_alert(notification, near_twin).fingerprint != long.fingerprint  # a digest, not a cut
    assert unnamed.title == '{alertname="", instance="web-01:9100", job="node"}'
    assert (bare.title, len(bare.fingerprint)) == ("Alertmanager alert", 32)


async def test_odd_but_valid_alerts_are_accepted(bus: Bus, client, redis, token) -> None:
    """Alertmanager would retry a 5xx forever: a notification it considers valid must land."""
    response = await client.post("/webhooks/alertmanager", content=odd_notification(),
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert [a["title"] for a in await stream_alerts(bus)] == [
        "Long", '{alertname="", instance="web-01:9100", job="node"}', "Alertmanager alert"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [(b"{not json", "JSON"), (b'{"status": "firing"}', "alerts"),
     (b'{"status": "firing", "alerts": [{"status": "exploded", "startsAt": "2026-01-01T00:00:00Z"}]}', "status")],
)
async def test_bodies_that_are_not_notifications_get_400(bus: Bus, client, redis, token, body, problem) -> None:
    response = await client.post("/webhooks/alertmanager", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert await stream_alerts(bus) == []


ALERT = {"status": "firing", "labels": {"alertname": "DiskFull"}, "startsAt": "2026-11-23T18:00:00Z"}


def group_notification(alerts: int, url_chars: int, name_chars: int) -> bytes:
    """A notification whose own fields (copied into each of its alerts) are long."""
    return orjson.dumps({"status": "firing", "receiver": "r" * name_chars, "groupKey": "{}:" + "g" * name_chars,
                         "externalURL": "http://am/" + "u" * url_chars,
                         "alerts": [{**ALERT, "fingerprint": f"{i:016x}"} for i in range(alerts)]})


async def test_long_group_fields_are_stored_bounded(bus: Bus, client, redis, token, api_settings) -> None:
    """50 KB of externalURL in a notification of 50 alerts used to be stored 50 times (2.7 MB of Redis)."""
    body = group_notification(50, url_chars=50_000, name_chars=2_000)
    response = await client.post("/webhooks/alertmanager", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    alerts = await stream_alerts(bus)
    assert len(alerts) == 50
    details = alerts[0]["details"]
    assert (len(details["external_url"]), len(details["receiver"]), len(details["group_key"])) == (
        URL_MAX_CHARS, LABEL_VALUE_MAX_CHARS, LABEL_VALUE_MAX_CHARS)
    limit = api_settings.webhook_expansion_factor * len(body) + api_settings.webhook_event_overhead_bytes * 50
    assert await redis.memory_usage(bus.key(ALERTS_INGESTED), samples=0) < 1.2 * limit  # plus Redis's own overhead


async def test_many_small_alerts_past_the_expansion_limit_get_413_naming_it(bus: Bus, client, redis, token) -> None:
    body = group_notification(500, url_chars=2_000, name_chars=1_000)
    response = await client.post("/webhooks/alertmanager", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413, response.text
    assert "WEBHOOK_EXPANSION_FACTOR" in response.json()["detail"]
    assert await stream_alerts(bus) == []


async def test_alerts_past_the_item_cap_are_left_out_and_counted_not_read(bus: Bus, client, redis, token,
                                                                          api_settings) -> None:
    """93,000 minimal alerts in 5 MB were each read (6 s of the event loop) before the 413: now the first
    WEBHOOK_MAX_ITEMS land, the others are counted as rejected (a 4xx would lose them all: Alertmanager drops it)."""
    cap = api_settings.webhook_max_items
    body = group_notification(cap + 5, url_chars=10, name_chars=10)
    response = await client.post("/webhooks/alertmanager", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (cap, 5)
    assert answer["errors"] == [{"alert": cap, "error": f"alerts {cap} to {cap + 4}: past WEBHOOK_MAX_ITEMS={cap} "
                                                        "alerts per notification, left out (set max_alerts)"}]
    assert len(await stream_alerts(bus)) == cap


async def test_long_labels_and_annotations_are_cut_and_the_alert_kept(bus: Bus, client, redis, token) -> None:
    alert = {**ALERT, "labels": {"alertname": "Long", "big": "x" * 5_000}, "annotations": {"description": "d" * 30_000}}
    body = orjson.dumps({"status": "firing", "alerts": [alert]})
    response = await client.post("/webhooks/alertmanager", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    (stored,) = await stream_alerts(bus)
    assert len(stored["labels"]["big"]) == LABEL_VALUE_MAX_CHARS
    assert len(stored["annotations"]["description"]) == ANNOTATION_VALUE_MAX_CHARS
    assert len(stored["description"]) == 20_000


async def test_a_bad_alert_does_not_cost_the_good_ones_of_its_group(bus: Bus, client, redis, token) -> None:
    """Alertmanager drops a notification for good on a 4xx: the good alerts land, the bad ones are listed."""
    alerts = [ALERT, {**ALERT, "startsAt": "yesterday"}, {**ALERT, "status": "exploded"},
              {**ALERT, "labels": {"alertname": "CpuHigh"}}]
    body = orjson.dumps({"status": "firing", "alerts": alerts})
    response = await client.post("/webhooks/alertmanager", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 2)
    assert [(e["alert"], e["error"].split(":")[0]) for e in answer["errors"]] == [(1, "startsAt"), (2, "status")]
    assert [a["title"] for a in await stream_alerts(bus)] == ["DiskFull", "CpuHigh"]


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
