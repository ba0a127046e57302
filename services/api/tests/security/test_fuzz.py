"""Schemathesis against the OpenAPI schema of the running API: every operation, authenticated as admin
(and with a source token of the receiver's kind for the webhooks), a bounded number of generated cases
each; 0 server errors. The examples phase sends the schema's named examples too: the metrics, anomalies and
forecasts time parameters carry the shapes that once answered 500 (a naive start with an aware end, year 1)."""

import subprocess
import sys
from pathlib import Path

import pytest

MAX_EXAMPLES = 40  # per operation and run
SEED = 20_260_123  # fixed, so a failure reproduces; change it locally to explore further
# One run per source kind: each webhook receiver takes only sources of its own kind.
KIND_PATHS = {"telegraf": "telegraf", "alertmanager": "alertmanager", "logs": "/webhooks/logs",
              "sentry": "sentry|/envelope/|/store/"}


def schemathesis_command(url: str, headers: dict[str, str], report_dir: Path) -> list[str]:
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error", "--phases", "examples,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-database", "none",
        "--request-timeout", "10", "--workers", "2", "--no-color", "--report", "junit", "--report-dir", str(report_dir),
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    return command


@pytest.mark.slow
async def test_no_server_errors_on_any_operation(start_service, service_headers, make_source, clean_db,
                                                 tmp_path: Path) -> None:
    # Measure errors, not 429s: the failed-authentication limit too (earlier tests of the run count against it).
    limits = {f"RATE_LIMIT_{name}": "0" for name in ("READ", "WRITE", "AUTH", "WEBHOOK", "AUTH_FAILURES")}
    api = start_service("aiops-api", LOG_LEVEL="ERROR", **limits)
    # /ready is left out: its 503 when a store is down is its documented answer, not a server error.
    runs = {"generic": ["--exclude-path-regex", "|".join(KIND_PATHS.values()), "--exclude-path", "/ready"]}
    runs |= {kind: ["--include-path-regex", pattern] for kind, pattern in KIND_PATHS.items()}
    for kind, selection in runs.items():
        headers = {**service_headers("admin"), "X-AIOps-Token": (await make_source(f"fuzz-{kind}", kind)).token}
        command = schemathesis_command(api.url, headers, tmp_path) + selection
        run = subprocess.run(command, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:] + api.log_path.read_text()[-4000:]
