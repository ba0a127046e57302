"""A benchmark started without its stores names each one it could not reach and how to start it (exit 2),
instead of dying halfway with a connection error's traceback."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench"
# Nothing listens on these ports: a connection is refused at once.
UNREACHABLE = {"INFLUX_URL": "http://127.0.0.1:1", "REDIS_URL": "redis://:bench-password@127.0.0.1:2/0",
               "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:3/aiops", "CHROMA_URL": "http://127.0.0.1:4"}
STORE_CLIENTS = re.compile(r"\bRedis\b|psycopg|chromadb|InfluxClient|Settings\(|DATABASE_URL")


def run_bench(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script)], env={**os.environ, **UNREACHABLE},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("script", "expected"), [
    ("anomaly_throughput.py", [
        "Redis is not reachable at redis://:***@127.0.0.1:2/12: start it with scripts/run.sh or set REDIS_URL",
        "InfluxDB is not reachable at http://127.0.0.1:1: start it with scripts/run.sh or set INFLUX_URL"]),
    ("log_pipeline.py", [
        "PostgreSQL is not reachable at postgresql+psycopg://postgres@127.0.0.1:3/aiops: start it with "
        "scripts/run.sh or set DATABASE_URL",
        "Redis is not reachable at redis://:***@127.0.0.1:2/14: start it with scripts/run.sh or set REDIS_URL",
        "ChromaDB is not reachable at http://127.0.0.1:4: start it with scripts/run.sh or set CHROMA_URL"]),
])
def test_a_bench_without_its_stores_names_them_and_exits_2(script: str, expected: list[str]) -> None:
    result = run_bench(script)
    assert result.returncode == 2
    assert result.stderr.splitlines() == expected  # no traceback, and the Redis password is not printed
    assert "bench-password" not in result.stdout + result.stderr


def test_every_bench_that_uses_a_store_checks_it_first() -> None:
    unchecked = [path.name for path in sorted(BENCH.glob("*.py"))
                 if path.name != "bench_stack.py" and STORE_CLIENTS.search(path.read_text())
                 and "require_stores(" not in path.read_text()]
    assert unchecked == [], "call bench_stack.require_stores(...) with the stores' URLs before using them"
