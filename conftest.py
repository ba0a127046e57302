"""Fixtures every test package shares: a throwaway PostgreSQL database migrated with Alembic, a dedicated
Redis database index flushed before and after each test that uses it, and settings pointing at them. Stores are
real servers (scripts/test_all.sh starts them when none is running)."""

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import literal, select, text, union_all
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiops_contracts.bus import Bus
from aiops_contracts.db import metadata
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.db.session import make_engine, make_sessionmaker
from aiops_contracts.settings import CommonSettings

if TYPE_CHECKING:
    from aiohttp import web

# Tests own this Redis database index and flush it (another index lets two test runs share one Redis).
TEST_REDIS_DB = int(os.environ.get("AIOPS_TEST_REDIS_DB", "15"))
TEST_JWT_SECRET = "test-secret-for-the-service-processes-0123456789"
TEST_SECRETS_KEY = "test-secrets-key-for-the-service-processes-0123456789"
# The API has no default JWT_SECRET: settings built in tests without one get the one the test processes use.
os.environ.setdefault("JWT_SECRET", TEST_JWT_SECRET)
# How long a service process may take to start on a loaded 2-core machine: both import pandas/prophet/torch
# first (at load 10 the API answered after 27 s, two workers polled after 100 s). Waits that include a start
# allow this much.
SERVICE_START_S = 180.0
T = TypeVar("T")


@contextlib.contextmanager
def migrated_database(base_url: str) -> Iterator[str]:
    """A new PostgreSQL database on `base_url`'s server, migrated with Alembic; dropped on exit."""
    url = make_url(base_url).set(database=f"aiops_test_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    create_database_if_missing(url)
    upgrade(url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with migrated_database(os.environ.get("DATABASE_URL", CommonSettings().database_url)) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    base = os.environ.get("REDIS_URL", CommonSettings().redis_url)
    return f"{base.rsplit('/', 1)[0]}/{TEST_REDIS_DB}" if base.count("/") > 2 else f"{base}/{TEST_REDIS_DB}"


@pytest.fixture(scope="session")
def test_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Environment for settings objects and for the service processes the e2e tests start."""
    return {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INFLUX_URL": os.environ.get("INFLUX_URL", "http://127.0.0.1:8086"),
        "INFLUX_DATABASE": f"aiops_test_{uuid.uuid4().hex[:8]}",
        "CHROMA_URL": os.environ.get("CHROMA_URL", "http://127.0.0.1:8000"),
        "SECRETS_KEY": TEST_SECRETS_KEY,
        # Streams and the live channel of this run: pub/sub channels are shared by every Redis database index.
        "BUS_PREFIX": f"aiops-test-{uuid.uuid4().hex[:8]}:",
    }


@pytest.fixture(scope="session")
def influx_database(test_env: dict[str, str]) -> Iterator[str]:
    """The run's own InfluxDB database (created empty, dropped at the end); tests clean up their measurements."""
    with own_influx_database(test_env["INFLUX_URL"], test_env["INFLUX_DATABASE"]) as name:
        yield name


@contextlib.contextmanager
def own_influx_database(url: str, name: str) -> Iterator[str]:
    """InfluxDB database `name` on `url`, created empty and dropped on exit."""
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{name}"'}).raise_for_status()
    try:
        yield name
    finally:
        httpx.post(f"{url}/query", data={"q": f'DROP DATABASE "{name}"'}).raise_for_status()


@pytest.fixture(scope="session")
def common_settings(test_env: dict[str, str]) -> CommonSettings:
    return CommonSettings(**{k.lower(): v for k, v in test_env.items()})


@pytest.fixture(scope="session")
async def engine(common_settings: CommonSettings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(common_settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
async def clean_db(engine: AsyncEngine) -> AsyncIterator[None]:
    """Empty every table before the test (services in other processes commit, so no rollback trick). Only the
    tables holding a row are truncated: TRUNCATE gives each table and index new files, so all 34 tables took
    0.9-1.1 s at load 12.5 (521 of the 1,131 tests use this), while finding the few a test filled takes
    3-17 ms."""
    async with engine.begin() as conn:
        existing = set((await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars())
        tables = [table for table in metadata.sorted_tables if table.name in existing]
        holding_rows = union_all(*(select(literal(table.name)).select_from(table).limit(1) for table in tables))
        if filled := ", ".join((await conn.execute(holding_rows)).scalars()):
            await conn.execute(text(f"TRUNCATE {filled} CASCADE"))  # names from our own metadata, not input
    yield


@pytest.fixture
async def clean_redis(redis_url: str) -> AsyncIterator[None]:
    """Empties the test Redis database before the test and after it: streams with unread entries, consumer
    groups and keys that a test or its processes leave would be read by a later test's worker (a worker task
    test's unread "Build failed: team/api" alert became tests/e2e/test_pipelines.py's build alert)."""
    async with Redis.from_url(redis_url) as client:
        await client.flushdb()
    yield
    async with Redis.from_url(redis_url) as client:
        await client.flushdb()


@pytest.fixture
async def redis(redis_url: str, clean_redis: None) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def bus(redis: Redis, common_settings: CommonSettings) -> Bus:
    """The test run's bus (its own stream prefix) on the test's Redis."""
    return Bus(redis, common_settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(condition: Callable[[], Awaitable[T]], timeout_s: float, what: str) -> T:
    """The first truthy result of `condition`, tried every 0.1 s; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := await condition():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


async def polled(poller: Any) -> Any:
    """A poller's poll, committed as the producer manager commits one once it is published (producers/poller.py)."""
    result = await poller.poll()
    await result.commit()
    return result


def fake(name: str) -> Any:
    """The module of a local server the tests run (tests/fakes/<name>.py), loaded once for every test module."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / f"tests/fakes/{name}.py")
        assert spec and spec.loader
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def polled_source(kind: Any, url: str, config: dict, credentials: dict) -> Any:
    """A source (`kind` a SourceKind) polled every minute at `url` with these settings, as a poller gets it."""
    from aiops_contracts.pollers import poller_settings  # imported by the poller tests only
    from aiops_worker.producers.poller import PolledSource

    return PolledSource("id-1", f"{kind.value}-1", kind, url, 60.0, {"team": "sre"},
                        poller_settings(kind.value, config, credentials))


CHUNK = 65536
async def start_app(app: "web.Application") -> tuple["web.AppRunner", str]:
    """Serves an aiohttp app on a free loopback port: its runner (to clean up) and its base URL."""
    from aiohttp import web  # imported by the tests that serve an app only

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


LINES = b"ok " * 21845 + b"\n"  # one 64 KiB chunk of text lines


class StreamedAnswer:
    """An aiohttp handler answering `status` with `size` bytes in 64 KiB chunks, without a Content-Length (or with
    one, `declared`), after reading the request whole: `first` (when given, padded with spaces to a chunk), then
    `fill` chunks, then `last` (when given, spaces then `last`, a chunk). `ended` is set when the handler ends,
    `completed` says whether it sent everything (false when the client stopped reading)."""

    def __init__(self, size: int, declared: bool = False, *, status: int = 200,
                 content_type: str = "text/plain; charset=utf-8", first: bytes | None = None, fill: bytes = LINES,
                 last: bytes | None = None) -> None:
        assert len(fill) == CHUNK and size % CHUNK == 0
        self.size, self.declared, self.status, self.content_type = size, declared, status, content_type
        self.first, self.fill, self.last = first, fill, last
        self.ended, self.completed = asyncio.Event(), False

    def chunks(self) -> Iterator[bytes]:
        middle = self.size // CHUNK - (self.first is not None) - (self.last is not None)
        if self.first is not None:
            yield self.first.ljust(CHUNK)
        for _ in range(middle):
            yield self.fill
        if self.last is not None:
            yield self.last.rjust(CHUNK)

    async def __call__(self, request: "web.Request") -> "web.StreamResponse":
        from aiohttp import web  # imported by the tests that serve such answers only

        await request.read()
        response = web.StreamResponse(status=self.status, headers={"Content-Type": self.content_type})
        if self.declared:
            response.content_length = self.size
        try:
            await response.prepare(request)
            for chunk in self.chunks():
                await response.write(chunk)
            await response.write_eof()
            self.completed = True
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client stopped reading
        finally:
            self.ended.set()
        return response


@dataclass
class ServiceProcess:
    """A real `aiops-api` or `aiops-worker` process; its output goes to a log file in the test's tmp dir."""

    command: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['API_PORT']}"

    def start(self) -> "ServiceProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([str(Path(sys.executable).parent / self.command)], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        if self.command == "aiops-api":
            self._wait_healthy()
        return self

    def _wait_healthy(self, timeout_s: float = SERVICE_START_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process and self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.command} not healthy: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no chance to finish a batch or ack."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait: the graceful path."""
        self.terminate()
        return self.wait_stopped(timeout_s)

    def terminate(self) -> None:
        """SIGTERM without waiting for the exit (wait_stopped)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout_s: float) -> int | None:
        """The exit status once the process has ended; SIGKILL after `timeout_s`."""
        if self.process and self.process.poll() is None:
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode if self.process else None


@pytest.fixture
def start_service(test_env: dict[str, str], tmp_path: Path,
                  clean_redis: None) -> Iterator[Callable[..., ServiceProcess]]:
    """Starts real service processes on the test stores, Redis emptied: start_service("aiops-api", **env overrides)."""
    with service_starter(test_env, tmp_path) as start:
        yield start


@contextlib.contextmanager
def service_starter(test_env: dict[str, str], log_dir: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """`start(command, **env overrides)` runs a service process on `test_env`'s stores; all stop on exit."""
    started: list[ServiceProcess] = []

    def start(command: str, **overrides: str) -> ServiceProcess:
        env = {**os.environ, **test_env, "JWT_SECRET": TEST_JWT_SECRET, "API_PORT": str(free_port()),
               "WORKER_METRICS_PORT": "0", "LOG_LEVEL": "WARNING", **overrides}
        service = ServiceProcess(command, env, log_dir / f"{command}-{len(started)}.log").start()
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in started:  # SIGTERM to all first: they stop side by side
            service.terminate()
        for service in started:
            service.wait_stopped(timeout_s=10)


@pytest.fixture
def service_headers() -> Callable[[str], dict[str, str]]:
    """Authorization headers valid for the processes start_service starts: service_headers("admin")."""
    from aiops_api.auth.tokens import Role, issue_access_token
    from aiops_api.settings import ApiSettings

    settings = ApiSettings(jwt_secret=TEST_JWT_SECRET)
    return lambda role="admin": {"Authorization": f"Bearer {issue_access_token(settings, 'e2e', Role[role])}"}


@pytest.fixture
def fake_openai() -> Iterator[object]:
    """A local server speaking OpenAI's chat-completions protocol (tests/fakes/fake_openai.py)."""
    with fake("fake_openai").FakeOpenAI() as server:
        yield server


@pytest.fixture
def snmp_agent(tmp_path: Path) -> Iterator[object]:
    """A real SNMP agent (Debian's snmpd) on a loopback high port (tests/fakes/snmp_agent.py)."""
    agent = fake("snmp_agent").SnmpAgent(tmp_path / "snmpd").start()
    yield agent
    agent.stop()


@pytest.fixture
def own_incidents_collection() -> Iterator[Callable[[CommonSettings], None]]:
    """Gives settings a ChromaDB collection prefix of their own (`incidents` collection of incident_memory),
    removed after the test: `own_incidents_collection(settings)`."""
    import chromadb
    from chromadb.errors import NotFoundError

    from aiops_contracts.chroma import INCIDENTS_COLLECTION

    owned: list[CommonSettings] = []

    def own(settings: CommonSettings) -> None:
        settings.chroma_collection_prefix = f"t{uuid.uuid4().hex[:10]}_"
        owned.append(settings)

    yield own
    for settings in owned:
        url = urlsplit(settings.chroma_url)
        client = chromadb.HttpClient(host=url.hostname, port=url.port)
        with contextlib.suppress(NotFoundError):  # a test that never asked created none
            client.delete_collection(settings.chroma_collection_prefix + INCIDENTS_COLLECTION)
