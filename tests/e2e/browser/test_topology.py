"""Topology and incident evidence in a real browser against the real API, worker and stores: an admin declares a
dependency on the topology page, a signal of the dependent service then joins the seeded incident, whose page
shows the evidence by signal kind (the error apart from the alerts, each with its source) with the probable
origin and the merge reason; the admin splits it out. The topology
shows where the signal's service runs, learned, with its environment as a label."""

import time

import httpx
import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.e2e


def _wait_evidence(stack, host: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=stack.api_url, headers=stack.admin_headers, timeout=10) as client:
        while time.monotonic() < deadline:
            evidence = client.get(f"/api/v1/incidents/{stack.incident_id}/evidence").json()
            if any(signal["host"] == host for signal in evidence):
                return
            time.sleep(0.2)
    raise TimeoutError(f"no signal of {host} joined the incident")


async def test_an_admin_declares_a_dependency_and_the_incident_shows_why_signals_joined(stack, sign_in) -> None:
    httpx.post(f"{stack.api_url}/api/v1/topology/edges", json={"kind": "runs_on", "source": "web", "target": "web-1"},
               headers=stack.admin_headers).raise_for_status()
    page = await sign_in("admin")
    await page.get_by_role("link", name="Topology").click()
    await page.get_by_role("heading", name="Topology").wait_for()
    hosts = page.get_by_role("table", name="Hosts")
    await expect(hosts.get_by_role("row").filter(has_text="web-1")).to_contain_text("1 open")  # the seeded incident

    form = page.get_by_role("form", name="New dependency")
    await form.get_by_label("Service").fill("Checkout")
    await form.get_by_label("depends on").fill("web")
    await form.get_by_role("button", name="Add dependency").click()
    checkout = page.get_by_role("table", name="Services").get_by_role("row").filter(has_text="checkout")
    await expect(checkout).to_contain_text("web (declared)")

    httpx.post(f"{stack.api_url}/webhooks/generic", headers={"X-AIOps-Token": stack.alert_token},
               json={"title": "OperationalError: connection refused", "severity": "high", "host": "app-9",
                     "service": "checkout", "labels": {"environment": "production"}, "signal": "error"}
               ).raise_for_status()
    _wait_evidence(stack, host="app-9")
    await page.goto(f"/incidents/{stack.incident_id}")
    evidence = page.get_by_role("region", name="Evidence")
    alerts, errors = (evidence.get_by_role("region", name=f"Signals of kind {kind}") for kind in ("alert", "error"))
    await expect(alerts.get_by_role("heading")).to_have_text("Alerts")
    await expect(errors.get_by_role("heading")).to_have_text("Errors")
    origin = alerts.get_by_role("row").filter(has_text="probable origin")
    await expect(origin).to_contain_text("Disk /var almost full")
    await expect(origin).to_contain_text("opened the incident")
    joined = errors.get_by_role("row").filter(has_text="OperationalError")
    await expect(joined).to_contain_text("depends on: checkout depends on web")
    await expect(joined).to_contain_text("checkout on app-9")
    await expect(joined).to_contain_text("monitoring")  # its source

    await joined.get_by_role("button", name="Split alert:host:app-9 out").click()
    await page.wait_for_url(lambda url: stack.incident_id not in url and "/incidents/" in url)
    await expect(page.get_by_role("region", name="Evidence").get_by_role("row")
                 .filter(has_text="OperationalError")).to_contain_text("split")


async def test_a_viewer_sees_the_topology_without_the_form(stack, sign_in) -> None:
    page = await sign_in("viewer")
    await page.goto("/topology")
    await page.get_by_role("heading", name="Topology").wait_for()
    await expect(page.get_by_role("table", name="Hosts")).to_contain_text("web-1")
    await expect(page.get_by_role("form", name="New dependency")).to_have_count(0)
    # The error the first test sent taught where checkout runs, with its environment as a label.
    checkout = page.get_by_role("table", name="Services").get_by_role("row").filter(has_text="checkout")
    await expect(checkout).to_contain_text("app-9 (learned)")
    await expect(checkout).to_contain_text("environment=production")
