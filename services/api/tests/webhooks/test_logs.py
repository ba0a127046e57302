"""POST /webhooks/logs: text, JSON lines and JSON arrays land in the logs stream with their labels."""

import gzip

import orjson
import pytest

from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LOGS_INGESTED


@pytest.fixture
async def token(make_source) -> str:
    return (await make_source("shipper", kind="logs")).token


async def records(redis) -> list[dict]:
    return [r for _, f in await redis.xrange(LOGS_INGESTED.name) for r in Envelope.from_entry(f).payload["records"]]


async def test_text_lines_with_labels(client, redis, token) -> None:
    body = b"<34>Oct 11 22:14:15 web-1 su: 'su root' failed\r\n\n  \nsecond line \xff\n"
    response = await client.post("/webhooks/logs?host=web-1&service=auth&label=env:prod&label=dc:%20eu",
                                 content=body, headers={"X-AIOps-Token": token, "Content-Type": "text/plain"})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2
    first, second = await records(redis)
    assert first["message"] == "<34>Oct 11 22:14:15 web-1 su: 'su root' failed"
    assert second["message"] == "second line \ufffd"  # a bad byte does not cost the line
    assert first["host"] == "web-1"
    assert first["labels"] == {"env": "prod", "dc": "eu", "host": "web-1", "service": "auth"}
    (envelope,) = [Envelope.from_entry(f) for _, f in await redis.xrange(LOGS_INGESTED.name)]
    assert (envelope.type, envelope.source) == ("logs.received", "shipper")


async def test_json_lines_gzip_and_json_array(client, redis, token) -> None:
    lines = b'{"level":"error","message":"boom"}\n{"msg":"ok"}\n'
    response = await client.post("/webhooks/logs", content=gzip.compress(lines),
                                 headers={"X-AIOps-Token": token, "Content-Encoding": "gzip"})
    assert response.status_code == 202, response.text
    response = await client.post("/webhooks/logs", content=orjson.dumps(["plain", {"message": "obj"}]),
                                 headers={"X-AIOps-Token": token, "Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    assert [r["message"] for r in await records(redis)] == [
        '{"level":"error","message":"boom"}', '{"msg":"ok"}', "plain", '{"message":"obj"}']


async def test_large_request_is_split_into_envelopes(client, redis, token) -> None:
    body = "".join(f"line {i}\n" for i in range(1200)).encode()
    response = await client.post("/webhooks/logs", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202
    assert len(response.json()["event_ids"]) == 3
    assert len(await records(redis)) == 1200


@pytest.mark.parametrize(("query", "body", "detail"), [
    ("", b"\n \n", "no log lines"),
    ("", b"[not json", "JSON array"),
    ("?label=novalue", b"x\n", "key:value"),
])
async def test_bad_requests_are_refused_and_enqueue_nothing(client, redis, token, query, body, detail) -> None:
    response = await client.post(f"/webhooks/logs{query}", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert await redis.xlen(LOGS_INGESTED.name) == 0


async def test_without_token_is_401(client) -> None:
    assert (await client.post("/webhooks/logs", content=b"x\n")).status_code == 401


async def test_a_token_of_another_kind_of_source_is_forbidden(client, redis, make_source) -> None:
    generic = (await make_source("nagios")).token
    response = await client.post("/webhooks/logs", content=b"x\n", headers={"X-AIOps-Token": generic})
    assert response.status_code == 403
    assert "logs" in response.json()["detail"]
    assert await redis.xlen(LOGS_INGESTED.name) == 0
