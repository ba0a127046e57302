"""A log line with a NUL byte travels webhook → stream → worker → PostgreSQL. PostgreSQL refuses NUL in text
and JSONB: before, the miner's state stayed unsaved and every later batch was dead-lettered. Now the NUL is
replaced at the edge (and again in the worker for a JSON line that spells it \\u0000), and lines keep flowing."""

import asyncio
import time

import httpx
import pytest
from sqlalchemy import text

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LOGS_INGESTED
from conftest import SERVICE_START_S

pytestmark = pytest.mark.e2e


async def wait_for_templates(client: httpx.AsyncClient, expected: dict[str, int]) -> dict[str, int]:
    deadline, counts = time.monotonic() + SERVICE_START_S, {}
    while time.monotonic() < deadline:
        items = (await client.get("/api/v1/logs/templates")).json()["items"]
        counts = {item["template"]: item["count"] for item in items}
        if all(counts.get(t) == n for t, n in expected.items()):
            break
        await asyncio.sleep(0.2)
    return counts


async def test_nul_in_a_log_line_is_stored_and_later_lines_flow(bus: Bus, start_service, service_headers, clean_db, redis,
                                                                engine) -> None:
    api = start_service("aiops-api")
    start_service("aiops-worker", LOG_EMBEDDINGS_ENABLED="false")
    async with httpx.AsyncClient(base_url=api.url, headers=service_headers()) as client:
        source = await client.post("/api/v1/sources", json={"name": "nul-shipper", "kind": "logs"})
        headers = {"X-AIOps-Token": source.json()["token"]}
        body = b'disk\x00 full on sda1\n{"message": "quota\\u0000 exceeded for user 7"}\n'
        assert (await client.post("/webhooks/logs", content=body, headers=headers)).status_code == 202
        first = {"disk\ufffd full on sda1": 1, "quota\ufffd exceeded for user <*>": 1}
        assert await wait_for_templates(client, first) == first
        assert (await client.post("/webhooks/logs", content=b"disk\x00 full on sda1\n", headers=headers)
                ).status_code == 202
        assert (await wait_for_templates(client, {"disk\ufffd full on sda1": 2}))["disk\ufffd full on sda1"] == 2
    stream = [Envelope.from_entry(f).payload for _, f in await redis.xrange(bus.key(LOGS_INGESTED))]
    assert "\x00" not in str([r["message"] for p in stream for r in p["records"]])  # replaced at the edge
    assert await redis.xlen(bus.dead_letter_key(LOGS_INGESTED)) == 0
    async with engine.connect() as conn:
        state = (await conn.execute(text("SELECT state FROM log_miner_state"))).scalar_one()
    assert len(state["clusters"]) == 2
