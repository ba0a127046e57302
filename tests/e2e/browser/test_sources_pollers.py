"""Polled sources on the integrations page, in a real browser against the real API and worker and a real SNMP
agent (snmpd): an admin adds an SNMP source, its health appears once the worker polls it, "Test connection"
lists the steps, and a wrong community is shown as the failed stage with its reason. An added source empties the
form (its credentials leave the screen) and says so."""

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.e2e


async def test_an_admin_adds_an_snmp_source_and_sees_its_health_and_connection_test(stack, sign_in,
                                                                                    snmp_agent) -> None:
    page = await sign_in("admin")
    await page.goto("/sources")
    form = page.get_by_role("form", name="New polled source")
    await form.get_by_label("Name").fill("core-switch-1")
    await form.get_by_label("Kind").select_option("snmp")
    await form.get_by_label("Target").fill("127.0.0.1")
    await form.get_by_label("Interval (s)").fill("3")
    await form.get_by_label("Settings (JSON)").fill(f'{{"port": {snmp_agent.port}}}')
    await form.get_by_label("Credentials (JSON, never shown again)").fill(
        f'{{"community": "{snmp_agent.community}"}}')
    await form.get_by_role("button", name="Add polled source").click()
    await expect(form.get_by_role("status")).to_contain_text("Added core-switch-1")
    await expect(form.get_by_label("Credentials (JSON, never shown again)")).to_have_value("")  # off the screen

    row = page.get_by_role("table", name="Polled sources").get_by_role("row").filter(has_text="core-switch-1")
    await expect(row).to_contain_text("127.0.0.1")
    await expect(row).not_to_contain_text(snmp_agent.community)
    await expect(row).to_contain_text("points", timeout=30_000)  # polled by the worker: its health shows
    await row.get_by_role("button", name="Test connection").click()
    steps = page.get_by_role("list", name="Connection test")
    # The worker runs the test (API → queue → worker → answer): on a loaded machine it takes seconds.
    await expect(steps).to_contain_text("dns ✓", timeout=30_000)
    await expect(steps).to_contain_text("protocol ✓ snmp answered and authenticated")

    await form.get_by_label("Name").fill("silent-switch")
    await form.get_by_label("Target").fill("127.0.0.1")
    await form.get_by_label("Interval (s)").fill("3")
    await form.get_by_label("Credentials (JSON, never shown again)").fill('{"community": "wrong"}')
    await form.get_by_label("Settings (JSON)").fill(
        f'{{"port": {snmp_agent.port}, "request_timeout_s": 0.2, "retries": 0}}')
    await form.get_by_role("button", name="Add polled source").click()
    silent = page.get_by_role("table", name="Polled sources").get_by_role("row").filter(has_text="silent-switch")
    await silent.get_by_role("button", name="Test connection").click()
    await expect(page.get_by_role("list", name="Connection test").last).to_contain_text("timeout ✗ no SNMP answer",
                                                                                     timeout=30_000)
    await expect(silent).to_contain_text("wrong community", timeout=30_000)  # its health, after a failed poll
