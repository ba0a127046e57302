"""The real Alertmanager binary (Debian's prometheus-alertmanager) notifying a real API process: firing and
resolved notifications land on the stream with Alertmanager's fingerprint. Skipped where it is not installed."""

import asyncio
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED
from conftest import SERVICE_START_S

BINARY = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
pytestmark = pytest.mark.skipif(BINARY is None, reason="Alertmanager is not installed")

CONFIG = """
route:
  receiver: aiops
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: aiops
    webhook_configs:
      - url: {url}/webhooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


async def stream_alerts(bus: Bus) -> list[dict]:
    envelopes = [Envelope.from_entry(fields) for _, fields in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]
    return [e.payload for e in envelopes if e.source == "prometheus-real"]


async def wait_for_status(bus: Bus, status: str, timeout_s: float = 60) -> list[dict]:
    """The stream's alerts once one has `status`. Alertmanager sends at once (group_wait 0 s), and retries a send
    the API, slow on a loaded machine, did not answer: generous, a deadline in time, not a count of tries."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alerts = await stream_alerts(bus)
        if any(a["status"] == status for a in alerts):
            return alerts
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no {status} notification within {timeout_s} s")


async def test_alertmanager_notifies_firing_then_resolved(bus: Bus, start_service, service_headers, clean_db, redis,
                                                          tmp_path: Path) -> None:
    api = start_service("aiops-api")
    async with httpx.AsyncClient(base_url=api.url) as client:
        created = await client.post("/api/v1/sources", json={"name": "prometheus-real", "kind": "alertmanager"},
                                    headers=service_headers())
    (tmp_path / "alertmanager.yml").write_text(CONFIG.format(url=api.url, token=created.json()["token"]))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    manager = subprocess.Popen([BINARY, f"--config.file={tmp_path / 'alertmanager.yml'}",
                                f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        alert = {"labels": {"alertname": "HighCPU", "instance": "web-01:9100", "severity": "critical"},
                 "annotations": {"summary": "CPU above 95% on web-01"}}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as am:
            started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            await post_when_up(am, [{**alert, "startsAt": started}])
            firing = await wait_for_status(bus, "firing")
            ended = datetime.now(UTC) - timedelta(seconds=1)
            await post_when_up(am, [{**alert, "startsAt": started, "endsAt": ended.isoformat()}])
            alerts = await wait_for_status(bus, "resolved")
    finally:
        manager.terminate()
        manager.wait(10)
    assert {a["fingerprint"] for a in alerts} == {firing[0]["fingerprint"]}  # Alertmanager's own fingerprint
    assert (firing[0]["title"], firing[0]["severity"], firing[0]["host"]) == ("CPU above 95% on web-01", "critical",
                                                                              "web-01:9100")


async def post_when_up(am: httpx.AsyncClient, alerts: list[dict]) -> None:
    deadline = time.monotonic() + SERVICE_START_S  # a process start takes seconds on a loaded machine
    while time.monotonic() < deadline:
        try:
            response = await am.post("/api/v2/alerts", json=alerts)
        except httpx.TransportError:
            await asyncio.sleep(0.1)
            continue
        assert response.status_code == 200, response.text
        return
    raise TimeoutError("Alertmanager did not start")
