"""Root-cause analysis of a degraded pipeline: which change around the onset explains the shift.

1. The onset: the build where the degraded series (duration, queue time or failed builds) shifted, found
   as the split before the detection that best separates the two means (a t-like statistic).
2. Candidates, each scored by the share of the shift it explains (`explained`, from the builds themselves):
   - a test whose duration grew (or a new test: it took 0 before) -> `slow_test`;
   - a test that fails now and did not before -> `flaky_test` when one commit saw it pass and fail,
     else `failing_test`;
   - a runner label whose share of the builds grew -> `runner_change` (share gained x its effect);
   - commits built just after the onset: a dependency bump (a manifest or lock file changed) or a change to
     test files, with a small prior (`commit_prior`): named first only when the builds explain nothing better.
3. Series checks (correlation.py): lagged correlation and Granger causality from the top cause's own series
   and from queue time and test count to the degraded series, with p-values and their caveats.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiops_worker.pipelines.correlation import series_checks
from aiops_worker.pipelines.features import Build

METRICS = {"slow_build": "duration_s", "queue_congestion": "queue_s", "failure_spike": "failed",
           "pattern_change": "step_count"}
DEPENDENCY_FILES = re.compile(r"(^|/)(requirements[^/]*\.txt|poetry\.lock|pyproject\.toml|Pipfile(\.lock)?|"
                              r"package(-lock)?\.json|yarn\.lock|pnpm-lock\.yaml|go\.(mod|sum)|Cargo\.(toml|lock)|"
                              r"Gemfile(\.lock)?|pom\.xml|build\.gradle(\.kts)?)$")
TEST_FILES = re.compile(r"(^|/)(tests?/|test_[^/]*$|[^/]*_test\.[a-z]+$|[^/]*\.(spec|test)\.[jt]sx?$)")


@dataclass(frozen=True)
class RcaSettings:
    search_builds: int = 40  # how far before the detection the onset is looked for
    window_builds: int = 60  # builds compared on each side of the onset
    min_side: int = 5
    commit_builds: int = 3  # commits built this close after the onset are candidates
    commit_prior: float = 0.2
    min_share_gain: float = 0.2  # a runner must gain this share of the builds to be a candidate


@dataclass
class Cause:
    kind: str  # slow_test, flaky_test, failing_test, runner_change, dependency_bump, test_change, commit
    name: str
    explained: float
    evidence: dict[str, Any]


@dataclass
class Rca:
    metric: str
    onset_index: int
    onset_ts: float
    before: float
    after: float
    causes: list[Cause]
    checks: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "onset_index": self.onset_index, "onset_ts": self.onset_ts,
                "before": self.before, "after": self.after, "checks": self.checks,
                "causes": [{"kind": c.kind, "name": c.name, "explained": round(c.explained, 3),
                            "evidence": c.evidence} for c in self.causes]}


def metric_values(builds: list[Build], metric: str) -> np.ndarray:
    return np.array([float(b.features.get(metric) or 0.0) for b in builds])


def onset(values: np.ndarray, detected: int, settings: RcaSettings) -> int:
    """The split before `detected` that best separates the means of the builds before and after it."""
    best, best_stat = detected, -math.inf
    lo = max(settings.min_side, detected - settings.search_builds)
    for k in range(lo, detected + 1):
        before = values[max(0, k - settings.window_builds):k]
        after = values[k:detected + 1]
        if len(before) < settings.min_side or len(after) < 1:
            continue
        spread = float(np.std(before)) + 1e-9
        stat = (after.mean() - before.mean()) / spread * math.sqrt(len(before) * len(after) / (len(before) + len(after)))
        if stat > best_stat:
            best, best_stat = k, stat
    return best


def analyse(builds: list[Build], detected: int, kind: str, settings: RcaSettings | None = None) -> Rca:
    """Causes of the anomaly of `kind` detected at build `detected` (builds oldest first), best first."""
    cfg = settings or RcaSettings()
    metric = METRICS[kind]
    values = metric_values(builds, metric)
    start = onset(values, detected, cfg)
    before, after = builds[max(0, start - cfg.window_builds):start], builds[start:]
    shift = float(values[start:].mean() - values[max(0, start - cfg.window_builds):start].mean())
    scale = shift if abs(shift) > 1e-9 else 1.0
    causes = [*_test_causes(before, after, metric, scale), *_runner_causes(before, after, metric, scale, cfg),
              *_commit_causes(builds, start, cfg)]
    causes.sort(key=lambda c: c.explained, reverse=True)
    top_series = _cause_series(causes[0], builds) if causes else None
    checks = series_checks(builds, values, top_series, causes[0].name if causes else None)
    return Rca(metric, start, builds[start].ts, float(values[max(0, start - cfg.window_builds):start].mean()),
               float(values[start:].mean()), causes[:10], checks)


def _test_causes(before: list[Build], after: list[Build], metric: str, scale: float) -> list[Cause]:
    if metric == "failed":
        return _failing_tests(before, after, scale)
    if metric not in ("duration_s", "runner_s"):
        return []
    causes = []
    for name in {n for b in after for n in b.tests}:
        now = [t.duration_s or 0.0 for b in after if (t := b.tests.get(name))]
        then = [t.duration_s or 0.0 for b in before if (t := b.tests.get(name))]
        grew = float(np.mean(now)) - (float(np.mean(then)) if then else 0.0)
        if grew > 0:
            file = next((t.file for b in after if (t := b.tests.get(name))), None)
            evidence = {"before_s": float(np.mean(then)) if then else None, "after_s": float(np.mean(now)),
                        "file": file, "new": not then, **_introduced_by(after, name)}
            causes.append(Cause("slow_test", name, grew / scale, evidence))
    return causes


def _failing_tests(before: list[Build], after: list[Build], scale: float) -> list[Cause]:
    def rate(builds: list[Build], name: str) -> float:
        return sum(b.tests[name].outcome == "failed" for b in builds if name in b.tests) / max(1, len(builds))

    causes = []
    for name in {n for b in after for n, t in b.tests.items() if t.outcome == "failed"}:
        gained = rate(after, name) - rate(before, name)
        if gained > 0:
            commits = _outcomes_per_commit(after, name)
            flaky = sorted(sha for sha, outcomes in commits.items() if {"passed", "failed"} <= outcomes)
            evidence = {"failure_rate_before": rate(before, name), "failure_rate_after": rate(after, name),
                        "same_commit_both_outcomes": flaky[:5]}
            causes.append(Cause("flaky_test" if flaky else "failing_test", name, gained / scale, evidence))
    return causes


def _outcomes_per_commit(builds: list[Build], name: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for b in builds:
        if b.commit_sha and name in b.tests:
            seen.setdefault(b.commit_sha, set()).add(b.tests[name].outcome)
    return seen


def _introduced_by(builds: list[Build], name: str) -> dict[str, Any]:
    first = next((b for b in builds if name in b.tests), None)
    if first is None or not first.commit_sha:
        return {}
    return {"first_seen_commit": first.commit_sha, "commit_message": first.commit_message[:200]}


def _runner_causes(before: list[Build], after: list[Build], metric: str, scale: float,
                   cfg: RcaSettings) -> list[Cause]:
    causes = []
    for runner in {b.runner for b in after if b.runner}:
        share_before = sum(b.runner == runner for b in before) / max(1, len(before))
        share_after = sum(b.runner == runner for b in after) / max(1, len(after))
        gained = share_after - share_before
        if gained < cfg.min_share_gain:
            continue
        on = [float(b.features.get(metric) or 0.0) for b in after if b.runner == runner]
        then = [float(b.features.get(metric) or 0.0) for b in before]
        effect = float(np.mean(on)) - (float(np.mean(then)) if then else 0.0)
        evidence = {"share_before": share_before, "share_after": share_after, "mean_on_runner": float(np.mean(on)),
                    "mean_before": float(np.mean(then)) if then else None,
                    "previous_runners": sorted({b.runner for b in before if b.runner})[:5]}
        causes.append(Cause("runner_change", runner, gained * effect / scale, evidence))
    return causes


def _commit_causes(builds: list[Build], start: int, cfg: RcaSettings) -> list[Cause]:
    causes, seen = [], set()
    for build in builds[max(0, start - 1):start + cfg.commit_builds]:
        if not build.commit_sha or build.commit_sha in seen:
            continue
        seen.add(build.commit_sha)
        deps = [f for f in build.commit_files if DEPENDENCY_FILES.search(f)]
        tests = [f for f in build.commit_files if TEST_FILES.search(f)]
        kind, files = ("dependency_bump", deps) if deps else ("test_change", tests) if tests else ("commit", [])
        prior = cfg.commit_prior if kind != "commit" else cfg.commit_prior / 2
        causes.append(Cause(kind, build.commit_sha, prior, {"files": files[:10], "message": build.commit_message[:200]}))
    return causes


def _cause_series(cause: Cause, builds: list[Build]) -> np.ndarray | None:
    """The top cause as a series over the builds: its runner (0/1), its test's duration or failure (0/1)."""
    if cause.kind == "runner_change":
        return np.array([float(b.runner == cause.name) for b in builds])
    if cause.kind == "slow_test":
        return np.array([(b.tests[cause.name].duration_s or 0.0) if cause.name in b.tests else 0.0 for b in builds])
    if cause.kind in ("flaky_test", "failing_test"):
        return np.array([float(cause.name in b.tests and b.tests[cause.name].outcome == "failed") for b in builds])
    return None
