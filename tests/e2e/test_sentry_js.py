"""The Sentry JavaScript SDK (@sentry/node, tests/e2e/sentry_js, installed by scripts/test_all.sh) sends to the
DSN the API hands out when a sentry source is created: the SDK accepts the DSN (its key is `\\w+` only) and its
events reach the alert stream, grouped like Sentry's issues."""

import subprocess
from pathlib import Path

import httpx
import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED
from conftest import free_port

pytestmark = pytest.mark.e2e

SENDER = Path(__file__).parent / "sentry_js" / "send.mjs"


async def handed_out_dsn(api, headers: dict[str, str], name: str) -> str:
    async with httpx.AsyncClient(base_url=api.url) as client:
        created = await client.post("/api/v1/sources", json={"name": name, "kind": "sentry"}, headers=headers)
    assert created.status_code == 201, created.text
    (dsn,) = [s["content"] for s in created.json()["snippets"]["items"] if s["name"] == "sentry_dsn"]
    return dsn


async def test_javascript_sdk_delivers_to_the_handed_out_dsn(bus: Bus, start_service, service_headers, clean_db, redis) -> None:
    port = free_port()
    api = start_service("aiops-api", API_PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}")
    for name in ("shop-js-1", "shop-js-2", "shop-js-3"):  # a fresh random key each: the SDK must take every one
        dsn = await handed_out_dsn(api, service_headers(), name)
        run = subprocess.run(["node", str(SENDER), dsn], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        envelopes = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(ALERTS_INGESTED))]
        alerts = [e.payload for e in envelopes if e.source == name]
        message, *errors = sorted(alerts, key=lambda a: (a["title"].startswith("TypeError"), a["title"]))
        assert [a["title"] for a in errors] == ["TypeError: card declined for order 17",
                                                "TypeError: card declined for order 18"]
        assert "checkout finished" in message["title"]
        assert errors[0]["fingerprint"] == errors[1]["fingerprint"] != message["fingerprint"]  # one issue
        assert {a["labels"]["release"] for a in alerts} == {"shop-js@1.0.0"}
