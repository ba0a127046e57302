"""The dashboard's TypeScript checks run in the test command: its unit tests (vitest: live merge of alert
rows, chart preparation, login redirects, the shared token refresh) and the strict type check."""

import os
import subprocess
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[1]
BIN = FRONTEND / "node_modules" / ".bin"


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=FRONTEND, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_COLOR": "1", "CI": "1"})


def test_vitest_unit_tests_pass() -> None:
    result = run("vitest", "run")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_typescript_strict_check_passes() -> None:
    result = run("tsc", "--noEmit")
    assert result.returncode == 0, result.stdout[-4000:]
