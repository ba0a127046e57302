"""The fault benchmark with small numbers: kill -9 the worker, hand its consumer over, stop PostgreSQL;
every accepted event is stored exactly once. The full run is `scripts/bench/fault_ingest.py`."""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_REDIS_DB

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "fault_ingest.py"


def test_no_accepted_event_is_lost_or_doubled_through_faults() -> None:
    # The run's own Redis database index (AIOPS_TEST_REDIS_DB): the script flushes it at its start, as each test
    # does, so test runs sharing one Redis never flush each other's (a fixed index was shared by every run).
    command = [sys.executable, str(SCRIPT), "--kills", "1", "--kill-interval-s", "1.5", "--pg-outage-s", "4",
               "--rate", "150", "--redis-db", str(TEST_REDIS_DB), "--drain-timeout-s", "90"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)  # two workers' starts on a loaded machine
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " lost=0 duplicated=0 " in run.stdout, run.stdout
