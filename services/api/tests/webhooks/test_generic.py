"""POST /webhooks/generic: valid alerts land in the stream; bad input gets a clear 4xx and enqueues nothing."""

import gzip

import orjson
import pytest

from aiops_api.webhooks import generic
from aiops_contracts import bus as bus_module
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED, StreamSpec


@pytest.fixture
async def token(make_source) -> str:
    return (await make_source("nagios")).token


async def stream_entries(bus: Bus) -> list[Envelope]:
    return [Envelope.from_entry(fields) for _, fields in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]


async def test_one_alert_is_accepted_into_the_stream(bus: Bus, client, redis, token) -> None:
    body = {"title": "Disk full", "severity": "critical", "host": "web-3", "labels": {"mount": "/var"}}
    response = await client.post("/webhooks/generic", json=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202
    (event_id,) = response.json()["event_ids"]
    (envelope,) = await stream_entries(bus)
    assert envelope.id == event_id
    assert envelope.source == "nagios"
    assert envelope.type == "alert.received"
    assert envelope.payload["severity"] == "critical"
    assert envelope.payload["fingerprint"]  # derived when the sender gives none
    assert envelope.payload["signal"] == "alert"  # unless the sender says what it is


async def test_a_list_of_alerts_with_aliases_and_bearer_auth(bus: Bus, client, redis, token) -> None:
    body = [{"title": "a", "severity": "warning", "status": "ok"},
            {"title": "b", "severity": "ERROR", "fingerprint": "fp-b", "signal": "error"}]
    response = await client.post("/webhooks/generic", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text
    a, b = await stream_entries(bus)
    assert (a.payload["severity"], a.payload["status"]) == ("medium", "resolved")
    assert (b.payload["severity"], b.payload["fingerprint"], b.payload["signal"]) == ("high", "fp-b", "error")


async def test_same_alert_gets_the_same_fingerprint(bus: Bus, client, redis, token) -> None:
    body = {"title": "Disk full", "host": "web-3"}
    for _ in range(2):
        await client.post("/webhooks/generic", json=body, headers={"X-AIOps-Token": token})
    first, second = await stream_entries(bus)
    assert first.payload["fingerprint"] == second.payload["fingerprint"]
    assert first.id != second.id


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "json_invalid"),
        (b'{"severity": "critical"}', "title"),
        (b'{"title": 42}', "title"),
        (b'{"title": "x", "severity": "apocalyptic"}', "severity"),
        (b'{"title": "x", "labels": {"a": {"nested": 1}}}', "labels"),
        (b'{"title": "x", "occurred_at": "yesterday"}', "occurred_at"),
        (b'{"title": "x", "severty": "high"}', "severty"),
        (b"[]", "empty list"),
        (b'"just a string"', "body"),
    ],
)
async def test_bad_input_is_a_clear_4xx_and_enqueues_nothing(bus: Bus, client, redis, token, body: bytes, problem: str) -> None:
    response = await client.post("/webhooks/generic", content=body,
                                 headers={"X-AIOps-Token": token, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert problem in response.text
    assert response.headers["content-type"].startswith("application/json")
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0


async def test_a_sender_cannot_file_a_log_burst(bus: Bus, client, redis, token) -> None:
    response = await client.post("/webhooks/generic", json=[{"title": "a"}, {"title": "b", "signal": "log"}],
                                 headers={"X-AIOps-Token": token})
    assert response.status_code == 422
    assert "signal" in response.text and "error, alert, anomaly, forecast" in response.text
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0


async def test_too_many_alerts_in_one_request(bus: Bus, client, redis, token) -> None:
    body = [{"title": f"a{i}"} for i in range(101)]
    response = await client.post("/webhooks/generic", json=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 400
    assert "at most 100" in response.json()["detail"]
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0


async def test_oversized_body_is_413(client, redis, token) -> None:
    body = orjson.dumps({"title": "x", "description": "y" * 70_000})
    response = await client.post("/webhooks/generic", content=body,
                                 headers={"X-AIOps-Token": token, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


async def test_oversized_chunked_body_is_413(bus: Bus, client, redis, token) -> None:
    async def chunks():
        yield b'{"title": "x", "description": "'
        for _ in range(20):
            yield b"y" * 4096
        yield b'"}'

    response = await client.post("/webhooks/generic", content=chunks(),
                                 headers={"X-AIOps-Token": token, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0


@pytest.mark.parametrize("headers", [{}, {"X-AIOps-Token": "aiops_wrong"}, {"Authorization": "Bearer nope"},
                                     {"Authorization": "Basic Zm9vOmJhcg=="}])
async def test_missing_or_invalid_token_is_401(bus: Bus, client, redis, token, headers) -> None:
    response = await client.post("/webhooks/generic", json={"title": "x"}, headers=headers)
    assert response.status_code == 401
    assert "source" in response.json()["detail"]
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0


async def test_revoked_token_is_refused(client, redis, make_source, auth) -> None:
    source = await make_source("old")
    assert (await client.delete(f"/api/v1/sources/{source.id}", headers=auth())).status_code == 200
    response = await client.post("/webhooks/generic", json={"title": "x"}, headers={"X-AIOps-Token": source.token})
    assert response.status_code == 401


async def test_service_stays_up_after_bad_input(client, token) -> None:
    await client.post("/webhooks/generic", content=gzip.compress(b"\x00\xff"), headers={"X-AIOps-Token": token})
    assert (await client.get("/health")).json() == {"status": "ok"}
    response = await client.post("/webhooks/generic", json={"title": "fine"}, headers={"X-AIOps-Token": token})
    assert response.status_code == 202


async def test_a_backlogged_stream_answers_503_and_takes_nothing(bus: Bus, client, redis, token, monkeypatch) -> None:
    """Workers far behind: taking more would let MAXLEN trimming delete accepted, unhandled events."""
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)
    monkeypatch.setattr(generic, "ALERTS_INGESTED", StreamSpec(ALERTS_INGESTED.name, maxlen=10))
    await bus.ensure_group(ALERTS_INGESTED, "slow-reader")
    # 9 entries the group has not read: 90 % of MAXLEN
    await bus.publish_many(ALERTS_INGESTED, [Envelope(type="alert.received", source="test") for _ in range(9)])
    response = await client.post("/webhooks/generic", json={"title": "one more"}, headers={"X-AIOps-Token": token})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "not yet handled" in response.json()["detail"]
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 9
