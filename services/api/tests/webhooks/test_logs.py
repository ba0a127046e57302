"""POST /webhooks/logs: text, JSON lines and JSON arrays land in the logs stream with their labels, stated
once per envelope; a request whose events would outgrow the expansion limit gets 413 naming it; a large body is
read on a thread while the event loop answers other requests."""

import asyncio
import contextlib
import gzip
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from aiops_api.main import create_app
from aiops_api.settings import ApiSettings
from aiops_api.webhooks import logs
from aiops_api.webhooks.logs import RECORDS_PER_ENVELOPE
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LABEL_VALUE_MAX_CHARS, LOG_LINE_MAX_CHARS, LogsPayload
from aiops_contracts.streams import LOGS_INGESTED
from conftest import until


@pytest.fixture
async def token(make_source) -> str:
    return (await make_source("shipper", kind="logs")).token


@contextlib.asynccontextmanager
async def client_taking(api_settings: ApiSettings, max_body_bytes: int) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that takes bodies of `max_body_bytes` (the tests' MAX_BODY_BYTES is less than one log
    record)."""
    app = create_app(api_settings.model_copy(update={"max_body_bytes": max_body_bytes}))
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client):
        yield client


@pytest.fixture
async def roomy_client(api_settings: ApiSettings, clean_db: None, redis) -> AsyncIterator[httpx.AsyncClient]:
    async with client_taking(api_settings, 1024 * 1024) as client:
        yield client


async def payloads(bus: Bus) -> list[dict]:
    return [Envelope.from_entry(f).payload for _, f in await bus.redis.xrange(bus.key(LOGS_INGESTED))]


async def records(bus: Bus) -> list[dict]:
    """The records as the log task reads them: the envelope's labels applied to each."""
    labelled = [LogsPayload.model_validate(p).labelled() for p in await payloads(bus)]
    return [r.model_dump() for p in labelled for r in p.records]


async def test_text_lines_with_labels(bus: Bus, client, redis, token) -> None:
    body = b"<34>Oct 11 22:14:15 web-1 su: 'su root' failed\r\n\n  \nsecond line \xff\n"
    response = await client.post("/webhooks/logs?host=web-1&service=auth&label=env:prod&label=dc:%20eu",
                                 content=body, headers={"X-AIOps-Token": token, "Content-Type": "text/plain"})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2
    first, second = await records(bus)
    assert first["message"] == "<34>Oct 11 22:14:15 web-1 su: 'su root' failed"
    assert second["message"] == "second line \ufffd"  # a bad byte does not cost the line
    assert first["host"] == "web-1"
    assert first["labels"] == {"env": "prod", "dc": "eu", "host": "web-1", "service": "auth"}
    (envelope,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_INGESTED))]
    assert (envelope.type, envelope.source) == ("logs.received", "shipper")
    assert envelope.payload["records"][0] == {"message": first["message"]}  # the labels are the envelope's


def query_labels(count: int, value_chars: int) -> str:
    return "&".join(f"label=k{i}:{'v' * value_chars}" for i in range(count))


async def test_big_query_on_a_small_body_is_stored_once_per_envelope(bus: Bus, client, redis, token) -> None:
    """11 KB of labels on 4 KB of lines used to be copied into every line (41 MB of Redis for one request)."""
    body = "".join(f"GET /api/items/{i:04d} 200 {'x' * 70}\n" for i in range(40)).encode()
    assert len(body) <= 4096
    query = query_labels(20, 550)
    assert len(query) > 11_000
    response = await client.post(f"/webhooks/logs?{query}", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202, response.text
    stored = await redis.memory_usage(bus.key(LOGS_INGESTED), samples=0)
    assert stored < 64 * 1024, stored  # one copy of the labels, not 40
    lines = await records(bus)
    assert len(lines) == 40 and all(len(r["labels"]) == 20 for r in lines)


async def test_label_values_are_cut_to_the_contract_bound(bus: Bus, client, redis, token) -> None:
    response = await client.post(f"/webhooks/logs?{query_labels(1, 5000)}", content=b"x\n",
                                 headers={"X-AIOps-Token": token})
    assert response.status_code == 202, response.text
    (record,) = await records(bus)
    assert len(record["labels"]["k0"]) == LABEL_VALUE_MAX_CHARS


async def test_tiny_lines_past_the_expansion_limit_get_413_naming_it(bus: Bus, client, redis, token) -> None:
    """2,000 one-letter lines: each line's record is several times its 2 bytes; nothing is stored."""
    response = await client.post("/webhooks/logs", content=b"a\n" * 2000, headers={"X-AIOps-Token": token})
    assert response.status_code == 413, response.text
    assert "WEBHOOK_EXPANSION_FACTOR" in response.json()["detail"]
    assert await redis.xlen(bus.key(LOGS_INGESTED)) == 0


async def test_a_body_of_many_tiny_lines_gets_413_before_its_records_are_built(bus: Bus, roomy_client, token) -> None:
    """500,000 one-letter lines: their records' least size on the stream already passes the limit, so the answer
    comes before any record is built (building them took seconds of the event loop, then 413 all the same)."""
    response = await roomy_client.post("/webhooks/logs", content=b"a\n" * 500_000, headers={"X-AIOps-Token": token})
    assert response.status_code == 413, response.text
    assert "its 500000 log records would take at least" in response.json()["detail"]
    assert "WEBHOOK_EXPANSION_FACTOR" in response.json()["detail"]
    assert await bus.redis.xlen(bus.key(LOGS_INGESTED)) == 0


async def test_the_loop_answers_other_requests_while_a_large_body_is_read(
        bus: Bus, api_settings: ApiSettings, clean_db: None, token, monkeypatch: pytest.MonkeyPatch) -> None:
    """5 MB of 6-12 character lines, 500,000 records: /health is answered while their records are still being
    built (on a thread; on the event loop they held it 2.5-6.7 s, /health waiting), and they all land."""
    body = "".join(f"{i:0{6 + i % 7}d}\n" for i in range(500_000)).encode()
    building, built = threading.Event(), threading.Event()

    def to_envelopes(*args: Any) -> Iterator[Envelope]:
        building.set()
        yield from real_to_envelopes(*args)
        built.set()

    async def records_building() -> bool:
        return building.is_set() or posted.done()

    real_to_envelopes = logs.to_envelopes
    monkeypatch.setattr(logs, "to_envelopes", to_envelopes)
    async with client_taking(api_settings, 5 * 1024 * 1024) as client:
        posted = asyncio.create_task(client.post("/webhooks/logs", content=body, headers={"X-AIOps-Token": token},
                                                 timeout=300))
        await until(records_building, 120, "the records being built")
        health = await client.get("/health")
        assert health.status_code == 200 and not built.is_set()
        response = await posted
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 500_000
    assert await bus.redis.xlen(bus.key(LOGS_INGESTED)) == 500_000 // RECORDS_PER_ENVELOPE


async def test_at_most_builds_at_once_large_bodies_are_built_at_once(
        bus: Bus, roomy_client, token, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three large bodies posted together: two are built at once (BUILDS_AT_ONCE, on the webhook's own threads),
    the third waits its turn, then all land."""
    body = "".join(f"line {i:06d}\n" for i in range(4_000)).encode()  # 48 KB, past OFF_LOOP_BYTES
    assert len(body) > logs.OFF_LOOP_BYTES and logs.BUILDS_AT_ONCE == 2
    gate, lock = threading.Event(), threading.Lock()
    running, started, peak, submitted = 0, 0, 0, 0

    def records_of(*args: Any) -> Any:
        nonlocal running, started, peak
        with lock:
            running, started = running + 1, started + 1
            peak = max(peak, running)
        try:
            assert gate.wait(120)
            return real_records_of(*args)
        finally:
            with lock:
                running -= 1

    def submit(*args: Any, **kwargs: Any) -> Any:
        nonlocal submitted
        submitted += 1
        return real_submit(*args, **kwargs)

    async def third_submitted_two_started() -> bool:
        return submitted == 3 and started >= 2

    real_records_of, real_submit = logs.records_of, logs._builders.submit
    monkeypatch.setattr(logs, "records_of", records_of)
    monkeypatch.setattr(logs._builders, "submit", submit)
    posts = [asyncio.create_task(roomy_client.post("/webhooks/logs", content=body, timeout=120,
                                                   headers={"X-AIOps-Token": token})) for _ in range(3)]
    try:
        await until(third_submitted_two_started, 60, "the three bodies handed to the builders, two started")
        assert (started, running) == (2, 2)  # the third is queued behind them, not built alongside
    finally:
        gate.set()
    responses = await asyncio.gather(*posts)
    assert [r.status_code for r in responses] == [202] * 3, [r.text for r in responses]
    assert (started, peak) == (3, 2)
    assert await bus.redis.xlen(bus.key(LOGS_INGESTED)) == 3 * -(-4_000 // RECORDS_PER_ENVELOPE)


async def test_json_lines_gzip_and_json_array(bus: Bus, client, redis, token) -> None:
    lines = b'{"level":"error","message":"boom"}\n{"msg":"ok"}\n'
    response = await client.post("/webhooks/logs", content=gzip.compress(lines),
                                 headers={"X-AIOps-Token": token, "Content-Encoding": "gzip"})
    assert response.status_code == 202, response.text
    response = await client.post("/webhooks/logs", content=orjson.dumps(["plain", {"message": "obj"}]),
                                 headers={"X-AIOps-Token": token, "Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    assert [r["message"] for r in await records(bus)] == [
        '{"level":"error","message":"boom"}', '{"msg":"ok"}', "plain", '{"message":"obj"}']


async def test_nul_in_a_line_is_replaced_before_the_stream(bus: Bus, client, redis, token) -> None:
    """PostgreSQL refuses NUL in text and JSONB: it must not travel on as is."""
    for body in (b"disk\x00 full\n", orjson.dumps(["disk\x00 full"])):
        response = await client.post("/webhooks/logs", content=body, headers={"X-AIOps-Token": token})
        assert response.status_code == 202, response.text
    assert [r["message"] for r in await records(bus)] == ["disk\ufffd full", "disk\ufffd full"]


async def test_large_request_is_split_into_envelopes(bus: Bus, client, redis, token) -> None:
    body = "".join(f"line {i}\n" for i in range(1200)).encode()
    response = await client.post("/webhooks/logs", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202
    assert len(response.json()["event_ids"]) == 3
    assert len(await records(bus)) == 1200


async def test_a_line_longer_than_a_record_is_published_whole_in_order(bus: Bus, roomy_client, token) -> None:
    """A 132,072-character stack trace after 498 short lines: its three pieces follow them in order, the last
    two in a second envelope, each with the request's labels, and it counts as one accepted line (it was cut at
    65,536 characters)."""
    trace = ("at com.example.Handler.run(Handler.java:42) é\t" * 3_000)[:2 * LOG_LINE_MAX_CHARS + 1_000]
    short = [f"line {i}" for i in range(RECORDS_PER_ENVELOPE - 2)]
    body = "\n".join([*short, trace, "after"]).encode()
    response = await roomy_client.post("/webhooks/logs?host=app-1", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(short) + 2
    assert [len(p["records"]) for p in await payloads(bus)] == [RECORDS_PER_ENVELOPE, 2]
    stored = await records(bus)
    pieces = [r["message"] for r in stored[len(short):-1]]
    assert [r["message"] for r in stored[:len(short)]] == short and stored[-1]["message"] == "after"
    assert [len(piece) for piece in pieces] == [LOG_LINE_MAX_CHARS, LOG_LINE_MAX_CHARS, 1_000]
    assert "".join(pieces) == trace
    assert all(r["host"] == "app-1" and r["labels"] == {"host": "app-1"} for r in stored)


async def test_text_lines_that_start_with_a_bracket_are_lines(bus: Bus, client, redis, token) -> None:
    """Apache error logs and many loggers start a line with `[`: such a body was refused as bad JSON."""
    body = (b"[Mon Nov 30 14:02:11.123456 2026] [core:error] [pid 4242] AH00037: Symbolic link not allowed\n"
            b"[main] INFO  Started in 2.1 s\n")
    response = await client.post("/webhooks/logs", content=body,
                                 headers={"X-AIOps-Token": token, "Content-Type": "text/plain"})
    assert response.status_code == 202, response.text
    assert [r["message"] for r in await records(bus)] == body.decode().splitlines()


async def test_a_json_content_type_with_a_body_that_is_not_json_is_400(bus: Bus, client, redis, token) -> None:
    response = await client.post("/webhooks/logs", content=b'["first", "second"',
                                 headers={"X-AIOps-Token": token, "Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 400
    assert "Content-Type says JSON, but the body is not valid JSON" in response.json()["detail"]
    assert await redis.xlen(bus.key(LOGS_INGESTED)) == 0


@pytest.mark.parametrize(("query", "body", "detail"), [
    ("", b"\n \n", "no log lines"),
    ("?label=novalue", b"x\n", "key:value"),
])
async def test_bad_requests_are_refused_and_enqueue_nothing(bus: Bus, client, redis, token, query, body, detail) -> None:
    response = await client.post(f"/webhooks/logs{query}", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert await redis.xlen(bus.key(LOGS_INGESTED)) == 0


async def test_without_token_is_401(client) -> None:
    assert (await client.post("/webhooks/logs", content=b"x\n")).status_code == 401


async def test_a_token_of_another_kind_of_source_is_forbidden(bus: Bus, client, redis, make_source) -> None:
    generic = (await make_source("nagios")).token
    response = await client.post("/webhooks/logs", content=b"x\n", headers={"X-AIOps-Token": generic})
    assert response.status_code == 403
    assert "logs" in response.json()["detail"]
    assert await redis.xlen(bus.key(LOGS_INGESTED)) == 0
