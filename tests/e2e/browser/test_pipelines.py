"""Pipelines in a real browser against the real API, worker and stores: a signed GitHub workflow_run webhook for a
failed run makes a pipeline; a viewer finds it from the navigation, opens it, and sees its run and its build
alert linked to the incident it joined."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.e2e
PAYLOAD = Path(__file__).parents[1] / "payloads" / "github_workflow_run_failed.json"
SECRET = "browser-webhook-secret-0123456789abcdef"


def _deliver_failed_run(stack) -> None:
    document = json.loads(PAYLOAD.read_text())
    run = document["workflow_run"]
    now = datetime.now(UTC).replace(microsecond=0)
    for key, minutes in (("created_at", 12), ("run_started_at", 11), ("updated_at", 2)):
        run[key] = (now - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    body = json.dumps(document).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with httpx.Client(base_url=stack.api_url, timeout=10) as client:
        source = {"name": "octo-ci-browser", "kind": "github_actions", "target": "https://api.github.com",
                  "interval_s": 900, "config": {"repositories": ["octo-org/octo-repo"]},
                  "credentials": {"webhook_secret": SECRET}}
        client.post("/api/v1/sources", json=source, headers=stack.admin_headers).raise_for_status()
        client.post("/webhooks/github", content=body, headers={
            "X-Hub-Signature-256": signature, "X-GitHub-Event": "workflow_run", "Content-Type": "application/json",
            "X-GitHub-Delivery": "browser-delivery-1"}).raise_for_status()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            alerts = client.get("/api/v1/alerts", params={"source": "pipelines"}, headers=stack.admin_headers).json()
            if any(a.get("incident_id") for a in alerts["items"]):
                return
            time.sleep(0.2)
    raise TimeoutError("the build alert did not join an incident")


async def test_a_viewer_follows_a_failed_run_from_the_pipelines_page(stack, sign_in) -> None:
    _deliver_failed_run(stack)
    page = await sign_in("viewer")
    # The navigation's link: the overview links each alert source, and the build alert's source is "pipelines".
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Pipelines").click()
    await page.get_by_role("heading", name="Pipelines").wait_for()
    row = page.get_by_role("row").filter(has_text="octo-org/octo-repo: Build")
    await expect(row).to_contain_text("GitHub Actions")
    await expect(row).to_contain_text("failure")
    await row.get_by_role("link", name="octo-org/octo-repo: Build").click()
    await page.get_by_role("heading", name="octo-org/octo-repo: Build").wait_for()
    runs = page.get_by_role("region", name="Runs")
    await expect(runs.get_by_role("row").filter(has_text="562")).to_contain_text("acb5820")
    alerts = page.get_by_role("region", name="Anomalies and alerts")
    alert = alerts.get_by_role("row").filter(has_text="Build failed: octo-org/octo-repo: Build")
    await expect(alert).to_contain_text("firing")
    await alert.get_by_role("link", name="open").click()
    await page.wait_for_url("**/incidents/**")
