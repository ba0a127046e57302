"""Replay and dead letters in a real browser against the real API, worker and stores: an admin replays the range
holding the seeded alert and reads the diff (the current settings replay what did happen; a candidate
automation rule shows the run it would have started; a snapshot start says what it started from), and re-drives
a dead letter that the worker then stores."""

import re
import time

import httpx
import pytest
from playwright.async_api import Page, expect
from redis import Redis
from sqlalchemy import create_engine, text

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload
from aiops_contracts.streams import ALERTS_INGESTED

pytestmark = pytest.mark.e2e

RULE = ('[{"name": "page-web", "trigger": {"events": ["incident.opened"], "hosts": ["web-*"]}, '
        '"action": {"kind": "webhook", "url": "https://hooks.example.com/page"}}]')


@pytest.fixture(scope="module")
def stack(own_stack):
    """Its own stack: a replay reads every record in its range, other modules' records would be in the shared one."""
    return own_stack


def _wait_archived(database_url: str, timeout_s: float = 30.0) -> None:
    """The worker's archive task has written the seeded alert (it runs beside the alert store)."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM archive_batches")).scalar():
                    return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise TimeoutError("the seeded alert was not archived")


async def _replay(page: Page, starting_state: str = "fresh", **fields: str) -> None:
    form = page.get_by_role("form", name="New replay")
    for label, value in fields.items():
        await form.get_by_label(label).fill(value)
    await form.get_by_label("Starting state").select_option(starting_state)
    await form.get_by_role("button", name="Start replay").click()


async def test_an_admin_replays_a_range_and_reads_the_diff(stack, sign_in) -> None:
    _wait_archived(stack.env["DATABASE_URL"])
    page = await sign_in("admin")
    await page.get_by_role("link", name="Replay").click()
    await page.get_by_role("heading", name="Replay", exact=True).wait_for()

    await _replay(page)
    result = page.get_by_role("region", name="Replay result")
    await expect(result.get_by_text("No difference.")).to_be_visible(timeout=60_000)
    would = result.get_by_role("table", name="Would against did").get_by_role("row", name="Incidents")
    await expect(would).to_have_text("Incidents11")

    await _replay(page, **{"Automation rules (JSON list)": RULE})
    changes = result.get_by_role("table", name="Changes")
    await expect(changes).to_contain_text("rule page-web: would run 1, did 0", timeout=60_000)
    await expect(page.get_by_role("row").filter(has_text="done")).to_have_count(2)

    await _replay(page, starting_state="snapshot")
    stated = re.compile(r"Starting state: snapshot: \d+ templates, \d+ prototypes, \d+ warm-up metric points, "
                        r"\d+ open incidents, \d+ recently resolved")
    await expect(result.get_by_text(stated)).to_be_visible(timeout=60_000)
    await expect(page.get_by_role("row").filter(has_text="done")).to_have_count(3)


async def test_an_admin_redrives_a_dead_letter_and_the_worker_stores_it(stack, sign_in) -> None:
    title = "Replica lag on db-7"
    envelope = Envelope(type=ALERT_RECEIVED, source="monitoring",
                        payload=AlertPayload(fingerprint="lag-db-7", title=title, host="db-7").model_dump(mode="json"))
    dead_key = stack.env["BUS_PREFIX"] + ALERTS_INGESTED.dead_letter
    with Redis.from_url(stack.env["REDIS_URL"]) as redis:
        redis.xadd(dead_key, {**envelope.to_entry(), b"error": b"OperationalError('database is down')",
                              b"original_id": b"1-0", b"group": b"alerts-store"})
    page = await sign_in("admin")
    await page.goto(f"/dead-letters?stream={ALERTS_INGESTED.name}")
    row = page.get_by_role("row").filter(has_text="alert.received from monitoring")
    await expect(row).to_contain_text("database is down")
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Re-drive").click()
    await expect(page.get_by_text("No dead letters yet.")).to_be_visible()
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.admin_headers) as client:
        deadline = time.monotonic() + 30
        while not (await client.get("/api/v1/alerts", params={"host": "db-7"})).json()["items"]:
            assert time.monotonic() < deadline, "the re-driven alert was not stored"
            await page.wait_for_timeout(200)
