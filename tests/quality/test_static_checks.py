"""The linter and the type checker, with the settings in the root pyproject.toml ([tool.ruff], [tool.mypy]):
any finding fails the test and is printed."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Coverage's subprocess patch would trace the checkers too: they are not code under test.
ENV = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=900)


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "--no-fix", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = run("mypy")  # the packages and settings come from pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr
