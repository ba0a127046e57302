"""Build features of one run: what the detectors, the health score and the forecasts read.

- `duration_s`: start to finish; `queue_s`: queued to start (Jenkins: the queue item's wait).
- `test_count`, `failure_count`, `failure_rate` (failed tests over run tests), from the test list, else the
  provider's summary counts.
- `job_count`, `step_count`, `runner_s` (summed job durations: the runner time the build used).
- `duration_per_test_s`: duration over test count (None without tests).
- `failed`: 1 for a failed build (failure, timed out, startup failure), else 0; `attempt` (above 1: retried)
  and `conclusion` as the provider said.
- `flaky_tests`: tests whose outcome differs between runs of the same commit (a retry that passed, two
  branches on one sha): same code, different outcome.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiops_contracts.pipelines import PipelineRunPayload, TestOutcome

FEATURES = ("duration_s", "queue_s", "test_count", "failure_count", "failure_rate", "job_count", "step_count",
            "runner_s", "duration_per_test_s", "failed", "attempt")


@dataclass(frozen=True)
class TestRun:
    __test__ = False
    outcome: str
    duration_s: float | None
    file: str | None = None


@dataclass(frozen=True)
class Build:
    """A finished build as the analyses read it (from PostgreSQL in the worker, generated in the bench)."""

    ts: float
    features: dict[str, Any]
    runner: str | None = None
    commit_sha: str | None = None
    commit_files: tuple[str, ...] = ()
    commit_message: str = ""
    tests: dict[str, TestRun] = field(default_factory=dict)


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def build_features(run: PipelineRunPayload) -> dict[str, Any]:
    ran = [t for t in run.tests if t.outcome != TestOutcome.skipped]
    test_count = len(ran) if run.tests else run.test_count
    failures = sum(t.outcome == TestOutcome.failed for t in ran) if run.tests else run.failure_count
    duration = seconds_between(run.started_at, run.finished_at)
    job_times = [seconds_between(j.started_at, j.finished_at) for j in run.jobs]
    return {
        "duration_s": duration,
        "queue_s": seconds_between(run.queued_at, run.started_at),
        "test_count": test_count,
        "failure_count": failures,
        "failure_rate": failures / test_count if test_count and failures is not None else None,
        "job_count": len(run.jobs),
        "step_count": sum(len(j.steps) for j in run.jobs),
        "runner_s": sum(t for t in job_times if t is not None) if run.jobs else duration,
        "duration_per_test_s": duration / test_count if duration is not None and test_count else None,
        "failed": 1 if run.failed else 0,
        "attempt": run.attempt,
        "conclusion": run.conclusion,
    }


def flaky_tests(outcomes: Iterable[tuple[str, str, str]]) -> set[str]:
    """Tests with both a passing and a failing outcome on one commit, from (commit sha, test name, outcome)."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for sha, name, outcome in outcomes:
        if outcome != TestOutcome.skipped:
            seen[(sha, name)].add(outcome)
    return {name for (_, name), kinds in seen.items() if len(kinds) > 1}
