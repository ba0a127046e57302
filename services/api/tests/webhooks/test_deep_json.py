"""One depth rule for every JSON webhook (webhooks/body.py MAX_BODY_NESTING, from the stream entry's MAX_NESTING):
a body nesting that many levels of objects and arrays is taken and its entries written; one level more, or past
what orjson parses at all, gets 400 naming the bound, and nothing reaches a stream. Before, the generic webhook
refused from 202 levels (pydantic's parser, 422 "recursion limit exceeded"), the logs webhook answered 500 for an
item nested past 254 levels, a Sentry hook's issue id nested 1,000 levels 500 (RecursionError), and Alertmanager
took any depth."""

import hashlib
import hmac
import time

import pytest

from aiops_api.webhooks.body import MAX_BODY_NESTING
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import MAX_NESTING, Envelope
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED, METRICS_INGESTED

CLIENT_SECRET = "6a1c0ef1c2e74e1ab3b8c9d0e1f20304a5b6c7d8e9f0a1b2c3d4e5f60718293a"
DEPTHS_REFUSED = [MAX_BODY_NESTING + 1, 300, 1_000, 1_100]  # 1,100: past what orjson parses (1,024)


def arrays(levels: int) -> bytes:
    """`levels` nested arrays around a 1."""
    return b"[" * levels + b"1" + b"]" * levels


def generic_object(depth: int) -> bytes:  # the alert object 1, details 2, then arrays
    return b'{"title": "deep", "details": {"k": ' + arrays(depth - 2) + b"}}"


def generic_list(depth: int) -> bytes:  # the list 1, the alert 2, details 3, then arrays
    return b'[{"title": "deep", "details": {"k": ' + arrays(depth - 3) + b"}}]"


def log_items(depth: int) -> bytes:  # the list 1, then one item of arrays
    return b'["a line", ' + arrays(depth - 1) + b"]"


def alertmanager(depth: int) -> bytes:  # the notification 1, alerts 2, the alert 3, then arrays in an unknown field
    return (b'{"version": "4", "status": "firing", "receiver": "r", "groupLabels": {}, "commonLabels": {}, '
            b'"commonAnnotations": {}, "externalURL": "http://am", "alerts": [{"status": "firing", '
            b'"labels": {"alertname": "deep"}, "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "x": '
            + arrays(depth - 3) + b"}]}")


def sentry_issue(depth: int) -> bytes:  # the body 1, data 2, issue 3, then arrays in its count (kept in details)
    return b'{"action": "created", "data": {"issue": {"id": "7", "title": "deep", "count": ' + arrays(depth - 3) + b"}}}"


def sentry_issue_id(depth: int) -> bytes:  # the issue id, which the fingerprint is written from
    return b'{"action": "created", "data": {"issue": {"id": ' + arrays(depth - 3) + b', "title": "deep"}}}'


def telegraf_json(depth: int) -> bytes:  # the batch 1, metrics 2, the metric 3, fields 4, then arrays in a field
    return b'{"metrics": [{"name": "cpu", "fields": {"v": ' + arrays(depth - 4) + b"}}]}"


@pytest.fixture
async def post(client, make_source):
    tokens = {kind: (await make_source(f"deep-{kind}", kind=kind)).token
              for kind in ("generic", "logs", "alertmanager", "telegraf")}
    await make_source("deep-sentry", kind="sentry", config={"client_secret": CLIENT_SECRET})

    async def send(kind: str, body: bytes):
        if kind == "sentry":
            headers = {"Sentry-Hook-Resource": "issue", "Sentry-Hook-Timestamp": str(int(time.time())),
                       "Sentry-Hook-Signature": hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).hexdigest()}
            return await client.post("/webhooks/sentry", content=body,
                                     headers={**headers, "Content-Type": "application/json"})
        return await client.post(f"/webhooks/{kind}", content=body,
                                 headers={"X-AIOps-Token": tokens[kind], "Content-Type": "application/json"})

    return send


CASES = [("generic", generic_object, ALERTS_INGESTED), ("generic", generic_list, ALERTS_INGESTED),
         ("logs", log_items, LOGS_INGESTED), ("alertmanager", alertmanager, ALERTS_INGESTED),
         ("sentry", sentry_issue, ALERTS_INGESTED)]


def test_the_bound_leaves_room_for_the_envelope_above_a_body() -> None:
    assert MAX_BODY_NESTING == MAX_NESTING - 1 == 253


@pytest.mark.parametrize(("kind", "body", "stream"), CASES, ids=[body.__name__ for _, body, _ in CASES])
async def test_a_body_at_the_bound_is_taken_and_written(bus: Bus, redis, post, kind, body, stream) -> None:
    response = await post(kind, body(MAX_BODY_NESTING))
    assert response.status_code in (200, 202), response.text
    entries = await bus.redis.xrange(bus.key(stream))
    assert len(entries) == 1 and Envelope.from_entry(entries[0][1]).payload


# Telegraf's JSON is held to the same rule (its metrics become lines, but a field is never an array or object:
# what nests that deep is no Telegraf batch), so past orjson's 1,024 levels it is not called "invalid JSON".
REFUSED = [*CASES, ("sentry", sentry_issue_id, ALERTS_INGESTED), ("telegraf", telegraf_json, METRICS_INGESTED)]


@pytest.mark.parametrize("depth", DEPTHS_REFUSED)
@pytest.mark.parametrize(("kind", "body", "stream"), REFUSED, ids=[body.__name__ for _, body, _ in REFUSED])
async def test_a_body_past_the_bound_is_400_naming_it(bus: Bus, redis, post, kind, body, stream, depth) -> None:
    response = await post(kind, body(depth))
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"body: nested deeper than {MAX_BODY_NESTING} levels of objects and "
                                                "arrays")
    assert await bus.redis.xlen(bus.key(stream)) == 0
