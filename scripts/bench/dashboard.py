"""The dashboard in a browser with 10,000 alerts stored: first load of the overview, and how long a webhook
alert takes to appear in the open alerts page.

Starts its own API, worker and dashboard (`next start` on the build `scripts/run.sh` makes) on a throwaway
database seeded like scripts/bench/overview.py and a flushed Redis database (--redis-db), signs in through
the login form in Debian's chromium, then
- loads the overview --loads times in fresh tabs (navigation until its panels show their data), and
- posts --alerts-live webhook alerts one by one while the alerts page is open (post until the row shows).

    .venv/bin/python scripts/bench/dashboard.py [--alerts 10000] [--loads 5] [--alerts-live 10] [--redis-db 14]
Targets: overview under 2 s; webhook alert visible within 2 s.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from bench_stack import JWT_SECRET, Service, free_port, log, require_stores, wait_healthy, wait_idle
from overview import seed
from playwright.async_api import Page, async_playwright
from redis import Redis

from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "services" / "frontend"
USER, PASSWORD = "bench-admin", "Tango-Foxtrot-9471"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def start_stack(database_url: str, redis_url: str, logs: Path) -> tuple[str, str, list]:
    api_port, web_port = free_port(), free_port()
    web = f"http://127.0.0.1:{web_port}"
    env = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "JWT_SECRET": JWT_SECRET, "API_PORT": str(api_port), "LOG_LEVEL": "WARNING", "FRONTEND_URL": web,
           "FIRST_ADMIN_USERNAME": USER, "FIRST_ADMIN_PASSWORD": PASSWORD, "WORKER_METRICS_PORT": "0"}
    api = Service("aiops-api", env, logs / "api.log").start()
    worker = Service("aiops-worker", env, logs / "worker.log").start()
    api_url = f"http://127.0.0.1:{api_port}"
    with (logs / "next.log").open("ab") as out:
        next_server = subprocess.Popen([str(FRONTEND / "node_modules/.bin/next"), "start", "-H", "127.0.0.1", "-p",
                                        str(web_port)], cwd=FRONTEND, stdout=out, stderr=subprocess.STDOUT,
                                       env={**os.environ, "API_URL": api_url, "NEXT_TELEMETRY_DISABLED": "1"})
    return api_url, web, [api, worker, next_server]


async def wait_dashboard(web: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{web}/login", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{web} did not come up")


async def sign_in(page: Page) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill(USER)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Noise reduction").wait_for(timeout=30_000)


async def overview_loads(context, loads: int) -> list[float]:
    times = []
    for _ in range(loads):
        page = await context.new_page()
        started = time.perf_counter()
        await page.goto("/")
        await page.get_by_role("heading", name="Noise reduction").wait_for(timeout=30_000)
        times.append(time.perf_counter() - started)
        await page.close()
    return times


async def live_latencies(page: Page, api_url: str, count: int) -> list[float]:
    async with httpx.AsyncClient(base_url=api_url) as client:
        headers = {"Authorization": f"Bearer {(await client.post('/api/v1/auth/login', data={'username': USER, 'password': PASSWORD})).json()['access_token']}"}
        token = (await client.post("/api/v1/sources", json={"name": "bench-live", "kind": "generic"}, headers=headers)).json()["token"]
        await page.goto("/alerts")
        await page.locator(".live").get_by_text("live").wait_for(timeout=30_000)
        times = []
        for i in range(count):
            title = f"bench live alert {i} {uuid.uuid4().hex[:6]}"
            started = time.perf_counter()
            (await client.post("/webhooks/generic", json={"title": title, "severity": "high", "host": "bench-host"},
                               headers={"X-AIOps-Token": token})).raise_for_status()
            await page.get_by_role("row").filter(has_text=title).wait_for(timeout=30_000)
            times.append(time.perf_counter() - started)
        return times


async def measure(api_url: str, web: str, args: argparse.Namespace) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, base_url=web)
        page = await context.new_page()
        await sign_in(page)
        loads = await overview_loads(context, args.loads)
        print(f"overview first load {loads[0]:.2f} s; {args.loads} loads: median {statistics.median(loads):.2f} s "
              f"max {max(loads):.2f} s")
        live = await live_latencies(page, api_url, args.alerts_live)
        print(f"webhook alert visible: {args.alerts_live} alerts, median {statistics.median(live):.2f} s "
              f"max {max(live):.2f} s")
        await browser.close()


async def run(args: argparse.Namespace) -> None:
    base = CommonSettings(database_url=os.environ.get("DATABASE_URL", CommonSettings().database_url))
    database_url = base.database_url.rsplit("/", 1)[0] + f"/aiops_bench_{uuid.uuid4().hex[:8]}"
    redis_url = base.redis_url.rsplit("/", 1)[0] + f"/{args.redis_db}" if base.redis_url.count("/") > 2 else f"{base.redis_url}/{args.redis_db}"
    require_stores(postgres=base.database_url, redis=redis_url)
    Redis.from_url(redis_url).flushdb()
    create_database_if_missing(database_url)
    processes = []
    try:
        upgrade(database_url)
        seed(database_url, args.alerts, 500)
        api_url, web, processes = start_stack(database_url, redis_url, Path(tempfile.mkdtemp(prefix="aiops-dashboard-")))
        await wait_healthy(api_url)
        await wait_dashboard(web)
        wait_idle(processes[1].process.pid)
        log(f"{args.alerts} alerts seeded; dashboard on {web}")
        await measure(api_url, web, args)
    finally:
        for process in processes:
            process.kill()
        drop_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--alerts-live", type=int, default=10)
    parser.add_argument("--redis-db", type=int, default=14)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
