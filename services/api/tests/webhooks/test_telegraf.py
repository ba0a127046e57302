"""POST /webhooks/telegraf: Telegraf's outputs.http bodies (line protocol or JSON, plain or gzip) land in the
metrics stream; bad lines are reported in a 2xx answer and never cost the good ones."""

import base64
import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from line_protocol_parser import parse_line
from prometheus_client import REGISTRY
from sqlalchemy import update

from aiops_api.sources.credentials import hash_token
from aiops_api.webhooks import telegraf
from aiops_api.webhooks.line_protocol import ValidatedLines
from aiops_api.webhooks.telegraf import TelegrafConfig, parse_telegraf
from aiops_contracts.bus import Bus
from aiops_contracts.db import Source
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import METRICS_INGESTED

PAYLOADS = Path(__file__).parent / "payloads" / "telegraf"
RECEIVED_NS = 1_795_000_000_000_000_000


def good_lines(result: ValidatedLines) -> list[str]:
    """The good lines as `to_envelopes` gets them, one an entry."""
    return [entry.decode() for entry, _ in result.entries(1)]


@pytest.fixture(autouse=True)
def forget_config_warnings() -> Iterator[None]:
    """Each test sees its config warnings logged (they are logged once a process): a rerun in one process too."""
    telegraf._warned.clear()
    yield
    telegraf._warned.clear()


@pytest.fixture
async def token(make_source) -> str:
    return (await make_source("telegraf-web", kind="telegraf")).token


async def stream_lines(bus: Bus, source: str = "telegraf-web") -> list[str]:
    """Lines this test's source put on the stream (other test runs may share the Redis database)."""
    envelopes = [Envelope.from_entry(fields) for _, fields in await bus.redis.xrange(bus.key(METRICS_INGESTED))]
    assert all(e.type == "metrics.received" for e in envelopes)
    return [line for e in envelopes if e.source == source for line in e.payload["lines"].split("\n")]


def rejected_total(source: str) -> float:
    return REGISTRY.get_sample_value("aiops_api_metric_lines_rejected_total", {"source": source}) or 0.0


async def test_captured_line_protocol_lands_in_the_stream_unchanged(bus: Bus, client, redis, token) -> None:
    body = (PAYLOADS / "metrics.influx").read_bytes()
    response = await client.post("/webhooks/telegraf", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 9 and response.json()["rejected"] == 0
    assert await stream_lines(bus) == body.decode().strip().split("\n")


async def test_gzip_chunked_body_with_basic_auth(bus: Bus, client, redis, token) -> None:
    """Telegraf's `content_encoding = "gzip"` arrives chunked, with no Content-Length."""
    compressed = gzip.compress((PAYLOADS / "metrics.influx").read_bytes())

    async def chunks():
        for start in range(0, len(compressed), 100):
            yield compressed[start:start + 100]

    basic = base64.b64encode(f"telegraf:{token}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "Content-Encoding": "gzip", "Content-Type": "text/plain"}
    response = await client.post("/webhooks/telegraf", content=chunks(), headers=headers)
    assert response.status_code == 202, response.text
    assert len(await stream_lines(bus)) == 9


async def test_bad_lines_are_reported_and_the_good_ones_kept(bus: Bus, client, redis, token) -> None:
    body = ("cpu,host=a usage_idle=90 1795000000000000000\n"
            "cpu,host=a usage_idle=\n"  # no value
            "mem,host=a used_percent=12.5\n"  # no timestamp: stamped at receive time
            "disk,host=a used=12i2 1795000000000000000\n"  # bad integer
            "log,host=a msg=\"two\nlines\" 1795000000000000000\n")  # a string field may span lines
    before = rejected_total("telegraf-web")
    response = await client.post("/webhooks/telegraf", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (3, 2)
    assert [e["line"] for e in answer["errors"]] == [2, 4]
    assert "field" in answer["errors"][0]["error"]
    assert rejected_total("telegraf-web") == before + 2
    lines = await stream_lines(bus)
    assert lines[0] == "cpu,host=a usage_idle=90 1795000000000000000"
    assert parse_line(lines[1])["time"] is not None  # the receive time, so a re-delivery writes the same point
    assert lines[2:] == ["log,host=a msg=\"two", "lines\" 1795000000000000000"]


async def test_a_line_that_is_not_utf8_costs_only_that_line(bus: Bus, client, redis, token) -> None:
    body = (b"cpu,host=a usage_idle=90 1795000000000000000\n"
            b"disk,host=a,path=/caf\xe9 used_percent=5 1795000000000000000\n"  # Latin-1, not UTF-8
            b"log,host=a msg=\"\xff\nlines\" 1795000000000000000\n"  # never joined into a string field
            b"mem,host=\xc3\xa9 used_percent=12.5 1795000000000000000\n")  # UTF-8 "\u00e9"
    response = await client.post("/webhooks/telegraf", content=body, headers={"X-AIOps-Token": token})
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 3)
    assert answer["errors"][:2] == [{"line": 2, "error": "not UTF-8 text (byte 0xe9 at column 22)"},
                                    {"line": 3, "error": "not UTF-8 text (byte 0xff at column 17)"}]
    assert answer["errors"][2]["line"] == 4
    assert await stream_lines(bus) == ["cpu,host=a usage_idle=90 1795000000000000000",
                                         "mem,host=\u00e9 used_percent=12.5 1795000000000000000"]


async def test_a_batch_of_only_bad_lines_still_gets_2xx(bus: Bus, client, redis, token) -> None:
    response = await client.post("/webhooks/telegraf", content=b"garbage\nmore garbage",
                                 headers={"X-AIOps-Token": token})
    assert response.status_code == 202  # Telegraf would resend a 4xx batch forever
    assert response.json()["rejected"] == 2
    assert await stream_lines(bus) == []


async def test_json_format_sent_as_text_plain(bus: Bus, client, redis, token) -> None:
    body = (PAYLOADS / "metrics.json").read_bytes()
    response = await client.post("/webhooks/telegraf", content=body,
                                 headers={"X-AIOps-Token": token, "Content-Type": "text/plain; charset=utf-8"})
    assert response.status_code == 202, response.text
    points = [parse_line(line) for line in await stream_lines(bus)]
    cpu = next(p for p in points if p["measurement"] == "cpu")
    assert cpu["fields"]["usage_guest"] == 0.0 and isinstance(cpu["fields"]["usage_guest"], float)
    assert cpu["time"] == 1_763_924_410 * 10**9  # json_timestamp_units = 1s


def test_json_numbers_are_floats_unless_declared_integer() -> None:
    body = (b'{"metrics":[{"name":"mem","tags":{"host":"a"},"fields":{"total":100,"used_percent":5},'
            b'"timestamp":1795000000000}]}')
    (line,) = good_lines(parse_telegraf(body, RECEIVED_NS, TelegrafConfig(integer_fields=["mem.total"])))
    point = parse_line(line)
    assert point["fields"] == {"total": 100, "used_percent": 5.0}
    assert "total=100i" in line and "used_percent=5.0" in line
    assert point["time"] == 1_795_000_000_000 * 10**6  # milliseconds recognised by magnitude


def test_json_metrics_that_cannot_be_lines_are_reported() -> None:
    body = (b'{"metrics":[{"name":"ok","fields":{"v":1}},{"name":"","fields":{"v":1}},'
            b'{"name":"nested","fields":{"v":{"a":1}}},{"name":"empty","fields":{}},'
            b'{"name":"int","fields":{"n":1.5}}]}')
    result = parse_telegraf(body, RECEIVED_NS, TelegrafConfig(integer_fields=["n"]))
    assert good_lines(result) == [f"ok v=1.0 {RECEIVED_NS}"]
    assert [e.line for e in result.errors] == [2, 3, 4, 5]
    assert "declared integer" in result.errors[3].error


def test_source_config_can_force_the_format() -> None:
    result = parse_telegraf(b'{"metrics":[]}', RECEIVED_NS, TelegrafConfig(data_format="influx"))
    assert result.rejected == 1  # read as line protocol, as configured


@pytest.mark.parametrize("config", [
    {"integer_fields": [["total"]]},  # made every JSON body of the source a 500
    {"data_format": ["json"], "integer_fields": 5},  # read the body as line protocol
])
async def test_config_values_stored_unchecked_are_read_as_unset(bus: Bus, client, redis, sessions, config) -> None:
    # Sources created before their config was checked at creation (sources/schemas.py).
    token = "aiops_telegraf_unchecked_config"
    async with sessions() as session:
        session.add(Source(name="telegraf-old", kind="telegraf", token_hash=hash_token(token), token_prefix=token[:12],
                           config=config, enabled=True))
        await session.commit()
    body = b'{"metrics":[{"name":"mem","fields":{"total":100},"timestamp":1795000000}]}'
    response = await client.post("/webhooks/telegraf", content=body, headers={"X-AIOps-Token": token})
    assert (response.status_code, response.json()["accepted"]) == (202, 1), response.text
    assert await stream_lines(bus, "telegraf-old") == ["mem total=100.0 1795000000000000000"]


async def test_config_keys_stored_unchecked_are_ignored_and_logged(bus: Bus, client, sessions, caplog) -> None:
    # Sources created before unknown keys were refused at creation: a typo among good settings is ignored, said in
    # the log, and the good settings still apply.
    token = "aiops_telegraf_unknown_config_key"
    config = {"integer_fields": ["mem.total"], "integer_field": ["mem.free"], "data_format": "json",
              "client_secret": "s" * 40}  # a signing secret: any push kind's, never unknown
    async with sessions() as session:
        session.add(Source(name="telegraf-old", kind="telegraf", token_hash=hash_token(token), token_prefix=token[:12],
                           config=config, enabled=True))
        await session.commit()
    body = b'{"metrics":[{"name":"mem","fields":{"total":100,"free":5},"timestamp":1795000000}]}'
    with caplog.at_level(logging.WARNING, logger="aiops_api.webhooks.telegraf"):
        response = await client.post("/webhooks/telegraf", content=body, headers={"X-AIOps-Token": token})
    assert (response.status_code, response.json()["accepted"]) == (202, 1), response.text
    assert await stream_lines(bus, "telegraf-old") == ["mem total=100i,free=5.0 1795000000000000000"]
    assert [(r.getMessage(), r.source, r.keys) for r in caplog.records if r.name == "aiops_api.webhooks.telegraf"] == [
        ("source config keys unknown, ignored", "telegraf-old", ["integer_field"])]


async def flushes(client, token: str, count: int) -> None:
    """`count` Telegraf flushes of one good line, each accepted."""
    for _ in range(count):
        response = await client.post("/webhooks/telegraf", content=b"mem free=5 1795000000000000000",
                                     headers={"X-AIOps-Token": token})
        assert (response.status_code, response.json()["accepted"]) == (202, 1), response.text


async def test_config_warnings_are_logged_once_per_source_not_every_flush(bus: Bus, client, sessions, caplog) -> None:
    # Telegraf flushes every few seconds: what is wrong with a stored config is said once, not on every request.
    token = "aiops_telegraf_warned_once"
    async with sessions() as session:
        session.add(Source(name="telegraf-flushing", kind="telegraf", token_hash=hash_token(token),
                           token_prefix=token[:12], config={"integer_field": ["mem.free"], "data_format": "xml"},
                           enabled=True))
        await session.commit()
    with caplog.at_level(logging.WARNING, logger="aiops_api.webhooks.telegraf"):
        await flushes(client, token, 3)
    assert [(r.getMessage(), r.source, r.keys) for r in caplog.records if r.name == "aiops_api.webhooks.telegraf"] == [
        ("source config keys unknown, ignored", "telegraf-flushing", ["integer_field"]),
        ("source config values refused, read as unset", "telegraf-flushing", ["data_format"])]
    # Another refused value under the same key is a new config: said again, once.
    caplog.clear()
    async with sessions() as session:
        await session.execute(update(Source).where(Source.name == "telegraf-flushing").values(
            config={"integer_field": ["mem.free"], "data_format": "yaml"}))
        await session.commit()
    with caplog.at_level(logging.WARNING, logger="aiops_api.webhooks.telegraf"):
        await flushes(client, token, 2)
    assert [(r.getMessage(), r.keys) for r in caplog.records if r.name == "aiops_api.webhooks.telegraf"] == [
        ("source config keys unknown, ignored", ["integer_field"]),
        ("source config values refused, read as unset", ["data_format"])]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"X-AIOps-Token": "aiops_wrong"}, 401), ({"Authorization": "Basic !!notbase64"}, 401)],
)
async def test_requests_without_a_valid_credential_are_refused(client, token, headers, status) -> None:
    response = await client.post("/webhooks/telegraf", content=b"cpu v=1", headers=headers)
    assert response.status_code == status
    assert response.json()["detail"]


async def test_a_token_of_another_kind_of_source_is_forbidden(client, make_source) -> None:
    generic = (await make_source("nagios")).token
    response = await client.post("/webhooks/telegraf", content=b"cpu v=1", headers={"X-AIOps-Token": generic})
    assert response.status_code == 403
    assert "telegraf" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "encoding", "status", "problem"),
    [
        (gzip.compress(b"cpu v=1 1\n" * 20_000), "gzip", 413, "decompressed"),  # 200 kB from a 1 kB body
        (b"not gzip at all", "gzip", 400, "gzip"),
        (gzip.compress(b"cpu v=1")[:-6], "gzip", 400, "truncated"),
        (b"cpu v=1", "zstd", 400, "content-encoding"),
        (b'{"metrics": 5}', "identity", 400, "metrics"),
    ],
)
async def test_bodies_that_cannot_be_read_get_a_clear_4xx(bus: Bus, client, redis, token, body, encoding, status,
                                                          problem) -> None:
    response = await client.post("/webhooks/telegraf", content=body,
                                 headers={"X-AIOps-Token": token, "Content-Encoding": encoding})
    assert response.status_code == status
    assert problem in response.json()["detail"]
    assert await stream_lines(bus) == []
