"""Automations and notifications in a real browser against the real API, worker and stores: a destructive rule's
run waits for approval, an operator approves it on the automations page and the worker then runs it (its webhook
is called, the run succeeds); the incident page shows the run; an operator silences a host on the notifications
page and expires the silence."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.e2e

HOST = "web-7"


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict]]]:
    """A local webhook receiver: the rule's action."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/restart", received
    server.shutdown()


async def _awaiting_run(stack, client: httpx.AsyncClient, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = (await client.get("/api/v1/automations/runs", params={"rule": "restart-web-7"},
                                 headers=stack.admin_headers)).json()
        if runs and runs[0]["status"] == "awaiting_approval":
            return runs[0]
        await asyncio.sleep(0.2)
    raise TimeoutError("the destructive rule never asked for approval")


async def test_an_operator_approves_a_pending_run_and_the_worker_runs_it(stack, sign_in, hook) -> None:
    url, received = hook
    rule = {"name": "restart-web-7", "description": "restart web-7's app (destructive: approved by an operator)",
            "trigger": {"events": ["incident.opened"], "hosts": [HOST]},
            "action": {"kind": "webhook", "url": url}, "guards": {"destructive": True, "cooldown_s": 0}}
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=10) as client:
        (await client.post("/api/v1/automations/rules", json=rule, headers=stack.admin_headers)).raise_for_status()
        alert = {"title": "App on web-7 not answering", "severity": "high", "host": HOST}
        (await client.post("/webhooks/generic", json=alert,
                           headers={"X-AIOps-Token": stack.alert_token})).raise_for_status()
        run = await _awaiting_run(stack, client)
    assert received == []  # nothing ran before the approval

    page = await sign_in("operator")
    await page.get_by_role("link", name="Automations").click()
    approve = page.get_by_role("button", name=f"Approve restart-web-7 on {HOST}")
    await approve.click()
    await expect(approve).to_have_count(0)
    row = page.get_by_role("region", name="Runs").get_by_role("row").filter(has_text="restart-web-7")
    await expect(row).to_contain_text("succeeded", timeout=30_000)
    assert len(received) == 1 and received[0]["target_host"] == HOST

    await page.goto(f"/incidents/{run['incident_id']}")
    automations = page.get_by_role("region", name="Automations")
    await expect(automations).to_contain_text("Time to repair: not resolved yet")
    await expect(automations.get_by_role("row").filter(has_text="restart-web-7")).to_contain_text("succeeded")


async def test_an_operator_silences_a_host_and_expires_the_silence(stack, sign_in) -> None:
    page = await sign_in("operator")
    await page.get_by_role("link", name="Notifications").click()
    form = page.get_by_role("form", name="New silence")
    await form.get_by_label("Matches (glob)").fill("db-*")
    await form.get_by_label("Comment").fill("database upgrade")
    await form.get_by_role("button", name="Create silence").click()
    silence = page.get_by_role("region", name="Silences").get_by_role("row").filter(has_text="host = db-*")
    await expect(silence).to_contain_text("active")
    await expect(silence).to_contain_text("sre-operator")
    await silence.get_by_role("button", name="Expire silence host = db-*").click()
    await expect(silence).to_contain_text("expired (by sre-operator)")
    await expect(page.get_by_role("region", name="Receivers")).to_contain_text("No receiver")
