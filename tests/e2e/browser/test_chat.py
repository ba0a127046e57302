"""The chat panel in a real browser against the real API, worker and stores: every dashboard page has it; a
viewer asks about the seeded host, the answer streams in (server-sent events) and links to the incident and the
host it cites; the link leads to the incident (with its enrichment), and the panel keeps the conversation while
pages change. An automation rule that matches the incident is proposed with a link to it, and nothing runs."""

import os
import tempfile
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.e2e

# AIOPS_SCREENSHOTS_DIR=docs/screenshots refreshes the README's picture (as test_dashboard.py does).
SCREENSHOTS = Path(os.environ.get("AIOPS_SCREENSHOTS_DIR", Path(tempfile.gettempdir()) / "aiops-screenshots"))
HOST = "web-1"  # the host the stack seeds (browser/conftest.py)
PAGES = ["/alerts", "/incidents", "/fleet", "/logs", "/anomalies"]


async def test_a_viewer_asks_from_any_page_and_follows_what_the_answer_cites(stack, sign_in) -> None:
    page = await sign_in("viewer")
    for path in PAGES:  # the panel is part of every page's frame
        await page.goto(path)
        await expect(page.get_by_role("button", name="Ask the chat")).to_be_visible()
    await page.goto("/")
    await page.get_by_role("button", name="Ask the chat").click()
    panel = page.get_by_role("complementary", name="Chat")
    await panel.get_by_label("Question").fill(f"what is wrong with {HOST}?")
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/chat/stream")) as streamed:
        await panel.get_by_role("button", name="Ask").click()
    assert (await streamed.value).headers["content-type"].startswith("text/event-stream")
    answer = panel.get_by_role("article", name=f"Answer to what is wrong with {HOST}?")
    # The API answers once it has embedded the question and read the stores: on a loaded machine, seconds.
    await expect(answer).to_have_attribute("aria-busy", "false", timeout=30_000)
    await expect(answer).to_contain_text("Disk /var almost full")
    cited = answer.get_by_role("list", name="Cited")
    await expect(cited.get_by_role("link", name=f"host {HOST}")).to_have_attribute("href", f"/fleet/{HOST}")
    incident = cited.get_by_role("link").filter(has_text="incident")
    await expect(incident).to_have_attribute("href", f"/incidents/{stack.incident_id}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "chat-panel.png")

    await incident.click()
    await page.wait_for_url(f"**/incidents/{stack.incident_id}")
    # The enrichment shows once the worker wrote it (announced live; its first one waits for the embedding model).
    await expect(page.get_by_role("heading", name="Explanation")).to_be_visible(timeout=120_000)
    await expect(panel.get_by_role("article", name=f"Answer to what is wrong with {HOST}?")).to_be_attached()
    await panel.get_by_label("Question").fill("which disks fill up this week?")
    await panel.get_by_role("button", name="Ask").click()
    await expect(panel.get_by_role("article", name="Answer to which disks fill up this week?")).to_have_attribute(
        "aria-busy", "false", timeout=30_000)
    await page.get_by_role("button", name="Close chat").click()
    await expect(panel).to_be_hidden()


async def test_the_chat_page_has_no_second_panel(stack, sign_in) -> None:
    page = await sign_in("viewer")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    await page.get_by_role("heading", name="Chat").wait_for()
    await expect(page.get_by_role("button", name="Ask the chat")).to_have_count(0)


async def test_an_answer_proposes_the_automation_that_matches_its_incident_and_links_to_it(stack, sign_in) -> None:
    rule = {"name": "disk-cleanup-web", "description": "Frees disk space on web hosts",
            "trigger": {"events": ["incident.opened", "incident.updated"], "hosts": ["web-*"]},
            "action": {"kind": "ansible", "playbook": "disk_cleanup.yml"}, "guards": {"destructive": True}}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.admin_headers, timeout=10) as api:
        (await api.post("/api/v1/automations/rules", json=rule)).raise_for_status()
        try:
            page = await sign_in("viewer")
            await page.get_by_role("button", name="Ask the chat").click()
            panel = page.get_by_role("complementary", name="Chat")
            await panel.get_by_label("Question").fill(f"what is wrong with {HOST}?")
            await panel.get_by_role("button", name="Ask").click()
            answer = panel.get_by_role("article", name=f"Answer to what is wrong with {HOST}?")
            await expect(answer).to_have_attribute("aria-busy", "false", timeout=30_000)
            proposed = answer.get_by_role("list", name="Proposed automations")
            await expect(proposed).to_contain_text("ansible disk_cleanup.yml")
            await expect(proposed).to_contain_text("approval")
            link = proposed.get_by_role("link", name="automation disk-cleanup-web")
            await expect(link).to_have_attribute("href", "/automations#rule-disk-cleanup-web")
            await link.click()
            await page.wait_for_url("**/automations#rule-disk-cleanup-web")
            await expect(page.locator("#rule-disk-cleanup-web")).to_contain_text("Frees disk space on web hosts")
            runs = (await api.get("/api/v1/automations/runs", params={"rule": rule["name"]})).json()
            assert all(run["status"] == "awaiting_approval" for run in runs)  # proposing ran nothing
        finally:
            (await api.delete(f"/api/v1/automations/rules/{rule['name']}")).raise_for_status()
