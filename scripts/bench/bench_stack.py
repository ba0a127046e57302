"""What the security/operations benchmarks share: free ports, service processes, health waits, tokens."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
JWT_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"


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


def wait_idle(pid: int, timeout_s: float = 120.0) -> None:
    """Waits until a process stops burning CPU: both services load the embedding model at start, and a
    benchmark measures the steady state, not that."""
    def cpu_s() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    deadline, last = time.monotonic() + timeout_s, cpu_s()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_s()
        if now - last < 0.1:
            return
        last = now


def machine_token(role: str) -> str:
    """An access token the benchmark's API processes (started with JWT_SECRET) accept."""
    env = {**os.environ, "JWT_SECRET": JWT_SECRET}
    command = [sys.executable, "-m", "aiops_api.auth", "token", "bench", role]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()
