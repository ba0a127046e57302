"""The browser tests' stack, shared by every browser module: the real API and worker on the test stores, the built
dashboard (`next start`) pointed at them, seeded users, sources, metrics and an incident, and Debian's
chromium driven by Playwright (never `playwright install`). Starting it takes 35-50 s under load, so it starts
once: each module keeps its data apart (its own hosts, names and rules) and no test expects an empty store. A
module that reads every record of a time range (replay) starts its own on stores of its own (`own_stack`)."""

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from redis import Redis
from sqlalchemy import create_engine, text

from aiops_contracts.db import metadata
from conftest import SERVICE_START_S, free_port, migrated_database, own_influx_database, service_starter

ROOT = Path(__file__).resolve().parents[3]
FRONTEND = ROOT / "services" / "frontend"
PASSWORD = "Tango-Foxtrot-9471"
USERS = {"admin": "sre-admin", "operator": "sre-operator", "viewer": "sre-viewer"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HOST = "web-1"
QUALITY_REPORT = Path(__file__).parent / "quality_report.json"  # what scripts/bench/quality.py writes
WaitUp = Callable[[], None]  # waits until a started server serves


@dataclass
class Stack:
    env: dict[str, str]  # the stores and the bus prefix it runs on
    api_url: str
    url: str  # the dashboard
    admin_headers: dict[str, str]
    alert_token: str  # a generic source's token, for webhook alerts
    incident_id: str


def _reset_stores(test_env: dict[str, str]) -> None:
    """The shared stack starts from empty tables, an empty Redis database and no metrics (the tests before the
    browser tests leave theirs)."""
    engine = create_engine(test_env["DATABASE_URL"])
    with engine.begin() as conn:
        existing = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        tables = ", ".join(t.name for t in metadata.sorted_tables if t.name in existing)
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))  # names from our own metadata
    engine.dispose()
    with Redis.from_url(test_env["REDIS_URL"]) as redis:
        redis.flushdb()
    httpx.post(f"{test_env['INFLUX_URL']}/query", params={"db": test_env["INFLUX_DATABASE"]},
               data={"q": "DROP SERIES FROM /.*/"}).raise_for_status()


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = SERVICE_START_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not up: {log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def dashboard_build() -> None:
    """Builds the dashboard once per run, when its sources changed (setup.sh's stamp)."""
    subprocess.run(["bash", "-ec", "source scripts/lib/setup.sh && install_frontend"], cwd=ROOT, check=True, timeout=1200)


@contextlib.contextmanager
def _dashboard(log: Path) -> Iterator[tuple[str, Callable[[str], WaitUp]]]:
    """Reserves the dashboard's port; `start(api_url)` runs `next start` against that API and returns the call
    that waits until it serves."""
    url = f"http://127.0.0.1:{free_port()}"
    started: list[subprocess.Popen] = []

    def start(api_url: str) -> WaitUp:
        env = {**os.environ, "API_URL": api_url, "NEXT_TELEMETRY_DISABLED": "1", "NODE_ENV": "production"}
        process = subprocess.Popen([str(FRONTEND / "node_modules" / ".bin" / "next"), "start", "-H", "127.0.0.1",
                                    "-p", url.rsplit(":", 1)[1]], cwd=FRONTEND, env=env,
                                   stdout=log.open("ab"), stderr=subprocess.STDOUT)
        started.append(process)
        return lambda: _wait_http(f"{url}/login", process, log)

    try:
        yield url, start
    finally:
        for process in started:
            process.terminate()
            process.wait(10)


def _seed(api_url: str) -> tuple[dict[str, str], str, str]:
    """Users of every role, a generic and a Telegraf source, an hour of host metrics, and one incident."""
    with httpx.Client(base_url=api_url, timeout=10) as client:
        login = client.post("/api/v1/auth/login", data={"username": USERS["admin"], "password": PASSWORD})
        admin = {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}
        for role in ("operator", "viewer"):
            client.post("/api/v1/users", json={"username": USERS[role], "password": PASSWORD, "role": role},
                        headers=admin).raise_for_status()
        token = client.post("/api/v1/sources", json={"name": "monitoring", "kind": "generic"}, headers=admin).json()["token"]
        metrics = client.post("/api/v1/sources", json={"name": "fleet-telegraf", "kind": "telegraf"}, headers=admin).json()["token"]
        now_s = int(time.time())
        lines = [line for minute in range(60, 0, -1) for line in _metric_lines(now_s - minute * 60, minute)]
        client.post("/webhooks/telegraf", content="\n".join(lines), headers={"X-AIOps-Token": metrics}).raise_for_status()
        client.post("/webhooks/generic", json={"title": "Disk /var almost full", "severity": "high", "host": HOST},
                    headers={"X-AIOps-Token": token}).raise_for_status()
        return admin, token, _wait_incident(client, admin)


def _metric_lines(at_s: int, minute: int) -> list[str]:
    ns = at_s * 1_000_000_000
    load = 0.6 + (minute % 7) / 10 + (4.0 if minute < 6 else 0.0)
    return [f"system,host={HOST} load1={load} {ns}", f"mem,host={HOST} used_percent={52 + minute % 5} {ns}",
            f"cpu,host={HOST},cpu=cpu-total usage_idle={80 - minute % 9} {ns}",
            f"disk,host={HOST},path=/ used_percent={70 + (60 - minute) / 10} {ns}"]


def _wait_incident(client: httpx.Client, admin: dict[str, str], timeout_s: float = SERVICE_START_S) -> str:
    """The worker stores the alert and the aggregator opens an incident for the host: wait for it (the worker has
    just started, which on a loaded machine takes as long as any service start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = client.get("/api/v1/incidents", params={"host": HOST}, headers=admin).json()["items"]
        if items:
            return items[0]["id"]
        time.sleep(0.2)
    raise TimeoutError("no incident opened for the seeded alert")


@contextlib.contextmanager
def _running_stack(env: dict[str, str], log_dir: Path) -> Iterator[Stack]:
    """The worker, the API and the dashboard on `env`'s stores, and the seed."""
    # The three processes start side by side (the worker's imports and model, `next start`, the API's imports):
    # only the API is waited for before the dashboard, and the seed's incident waits for the worker.
    with service_starter(env, log_dir) as start_service, _dashboard(log_dir / "next.log") as (url, start_dashboard):
        start_service("aiops-worker")
        api_port = str(free_port())
        dashboard_serves = start_dashboard(f"http://127.0.0.1:{api_port}")
        api = start_service("aiops-api", API_PORT=api_port, FRONTEND_URL=url, FIRST_ADMIN_USERNAME=USERS["admin"],
                            FIRST_ADMIN_PASSWORD=PASSWORD, QUALITY_REPORT_PATH=str(QUALITY_REPORT))
        dashboard_serves()
        admin, token, incident_id = _seed(api.url)
        yield Stack(env=env, api_url=api.url, url=url, admin_headers=admin, alert_token=token, incident_id=incident_id)


@pytest.fixture(scope="package")
def stack(test_env, influx_database, dashboard_build, tmp_path_factory) -> Iterator[Stack]:
    """Stopped after the last browser test (this folder's __init__.py makes it a package), before later tests
    start processes of their own on the same stores."""
    _reset_stores(test_env)
    # The seeded incident serves every module, test_topology's last: on a loaded machine more than the worker's
    # default 600 s can pass, after which its sweep resolves the incident (quiet alert window, and the hold after
    # test_dashboard reopens it) and a new signal no longer correlates with its span. An hour outlasts the run.
    env = {**test_env, "INCIDENT_ALERT_WINDOW_S": "3600", "INCIDENT_CORRELATION_WINDOW_S": "3600"}
    with _running_stack(env, tmp_path_factory.mktemp("stack")) as stack:
        yield stack


@pytest.fixture(scope="module")
def own_stack(test_env, dashboard_build, tmp_path_factory) -> Iterator[Stack]:
    """A stack on a PostgreSQL database, an InfluxDB database and a bus prefix of its own (its Redis keys are
    under that prefix), running beside the shared one."""
    suffix = uuid.uuid4().hex[:8]
    with migrated_database(test_env["DATABASE_URL"]) as database_url, \
            own_influx_database(test_env["INFLUX_URL"], f"aiops_test_{suffix}") as influx_database:
        env = {**test_env, "DATABASE_URL": database_url, "INFLUX_DATABASE": influx_database,
               "BUS_PREFIX": f"aiops-test-{suffix}:"}
        with _running_stack(env, tmp_path_factory.mktemp("own-stack")) as stack:
            yield stack


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def context(browser: Browser, stack: Stack) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, base_url=stack.url)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url)
    yield context
    await context.close()


@pytest.fixture
def sign_in(context: BrowserContext) -> Callable[[str], Awaitable[Page]]:
    """sign_in(role): a page signed in as the seeded user of `role` through the login form, on the overview."""

    async def sign_in_as(role: str) -> Page:
        page = await context.new_page()
        await page.goto("/login")
        await page.get_by_label("Username").fill(USERS[role])
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Overview").wait_for()
        return page

    return sign_in_as
