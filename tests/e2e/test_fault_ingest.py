"""The fault benchmark with small numbers: kill -9 the worker, hand its consumer over, stop PostgreSQL;
every accepted event is stored exactly once. The full run is `scripts/bench/fault_ingest.py`."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "fault_ingest.py"


def test_no_accepted_event_is_lost_or_doubled_through_faults() -> None:
    # Redis database 12: the script flushes the index it owns, never the tests' (15) or the bench's (13).
    command = [sys.executable, str(SCRIPT), "--kills", "1", "--kill-interval-s", "1.5", "--pg-outage-s", "4",
               "--rate", "150", "--redis-db", "12", "--drain-timeout-s", "90"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " lost=0 duplicated=0 " in run.stdout, run.stdout
