"""What the benchmarks share: store checks, free ports, service processes, health waits, tokens."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from aiops_contracts.settings import CommonSettings

BIN = Path(sys.executable).parent
JWT_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
# Store -> its name and the setting that points the benchmarks (and the services) at it.
STORES = {"redis": ("Redis", "REDIS_URL"), "postgres": ("PostgreSQL", "DATABASE_URL"),
          "influx": ("InfluxDB", "INFLUX_URL"), "chroma": ("ChromaDB", "CHROMA_URL")}
IDLE_CPU_S, IDLE_SECONDS = 0.05, 3  # wait_idle: an idle API or worker uses 0.00-0.03 s of CPU a second
DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "postgresql": 5432, "http": 80, "https": 443}


def require_stores(**urls: str) -> None:
    """Exits with status 2 naming each store (keyword: redis, postgres, influx, chroma) that refuses a
    connection at its URL and how to start it, before the benchmark dies on a connection error halfway."""
    down = [f"{STORES[store][0]} is not reachable at {redacted(url)}: start it with scripts/run.sh "
            f"or set {STORES[store][1]}" for store, url in urls.items() if not accepts_connections(url)]
    if down:
        print("\n".join(down), file=sys.stderr)
        raise SystemExit(2)


def accepts_connections(url: str, timeout_s: float = 3.0) -> bool:
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme.split("+")[0]]  # postgresql+psycopg://
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s):
            return True
    except (OSError, ValueError, KeyError):
        return False


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def redis_db_url(index: int) -> str:
    """REDIS_URL with database `index`: a scratch database the benchmark may flush."""
    return urlunsplit(urlsplit(CommonSettings().redis_url)._replace(path=f"/{index}"))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """An `aiops-api` or `aiops-worker` process with its output in a log file."""

    command: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> "Service":
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen([str(BIN / self.command)], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to finish a batch or ack."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/health", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy")


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used so far: the cost of work that stays the same when other
    processes share the machine, unlike latency; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, timeout_s: float = 120.0) -> None:
    """Waits until a process stops burning CPU: both services load the embedding model at start, and a
    benchmark measures the steady state, not that. Quiet is under IDLE_CPU_S of CPU in each of IDLE_SECONDS
    seconds in a row: on a busy machine (load 15) a process loading its model gets only 0.05-0.15 s of CPU a
    second, so one second under 0.1 s said nothing (the API went on loading its model in the timed phase)."""
    deadline, last, quiet = time.monotonic() + timeout_s, cpu_seconds(pid), 0
    while quiet < IDLE_SECONDS and time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < IDLE_CPU_S else 0
        last = now


def machine_token(role: str) -> str:
    """An access token the benchmark's API processes (started with JWT_SECRET) accept."""
    env = {**os.environ, "JWT_SECRET": JWT_SECRET}
    command = [sys.executable, "-m", "aiops_api.auth", "token", "bench", role]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()
