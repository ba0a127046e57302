"""Pipeline health: a score from 0 to 100 and a grade A-F from five weighted dimensions, each explained, with
its trend (the same dimension over the `window_days` before).

| dimension (weight) | what CI exposes | 100 when | 0 when |
|---|---|---|---|
| test success (30 %) | tests passed over tests run (builds without tests: builds not failed) | all pass | none |
| performance (25 %) | p95 build duration against the baseline's median duration | p95 <= 1.25 x median | >= 2.5 x |
| resources (20 %) | queue time over time on a runner (median), runner time per build against the baseline | no queue, no growth | queue as long as the build, or doubled runner time |
| errors (15 %) | failed builds by category (test failure, timeout, infrastructure = failed before any test ran) | no failure | 20 % of builds failing for timeouts or infrastructure, or 40 % for tests |
| stability (10 %) | builds with flaky tests (same commit, different outcome) and retried builds | none | 20 % of builds |

The baseline is the `baseline_days` before the window. Grades: A >= 90, B >= 80, C >= 70, D >= 60, else F.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiops_worker.pipelines.features import Build

DAY_S = 86_400.0
WEIGHTS = {"test_success": 0.30, "performance": 0.25, "resources": 0.20, "errors": 0.15, "stability": 0.10}
GRADES = (("A", 90.0), ("B", 80.0), ("C", 70.0), ("D", 60.0))


@dataclass(frozen=True)
class HealthSettings:
    window_days: float = 7.0
    baseline_days: float = 28.0
    steady_points: float = 3.0  # a dimension moving less than this is steady


def grade(score: float) -> str:
    return next((letter for letter, floor in GRADES if score >= floor), "F")


def _clamp(x: float) -> float:
    return max(0.0, min(100.0, x))


def _ramp(value: float, good: float, bad: float) -> float:
    """100 at `good` or better, 0 at `bad` or worse, linear between."""
    return _clamp(100.0 * (bad - value) / (bad - good))


def _values(builds: list[Build], key: str) -> list[float]:
    return [float(b.features[key]) for b in builds if b.features.get(key) is not None]


def _dimensions(window: list[Build], baseline: list[Build]) -> dict[str, tuple[float, str]]:
    tests = sum(b.features.get("test_count") or 0 for b in window)
    failures = sum(b.features.get("failure_count") or 0 for b in window)
    failed_builds = sum(bool(b.features.get("failed")) for b in window)
    if tests:
        test_score, test_text = 100.0 * (1 - failures / tests), f"{tests - failures} of {tests} tests passed"
    else:
        test_score = 100.0 * (1 - failed_builds / len(window))
        test_text = f"{len(window) - failed_builds} of {len(window)} builds passed (no test reports)"
    durations, usual = _values(window, "duration_s"), _values(baseline, "duration_s") or _values(window, "duration_s")
    p95 = float(np.percentile(durations, 95)) if durations else 0.0
    ratio = p95 / statistics.median(usual) if usual and statistics.median(usual) > 0 else 1.0
    perf = (_ramp(ratio, 1.25, 2.5), f"p95 build duration {p95:.0f} s, {ratio:.2f} x the usual median")
    queue, runner = _values(window, "queue_s"), _values(window, "runner_s")
    queue_share = statistics.median(queue) / max(1.0, statistics.median(_values(window, "duration_s") or [1.0])) \
        if queue else 0.0
    before = _values(baseline, "runner_s")
    growth = statistics.median(runner) / statistics.median(before) if runner and before and statistics.median(before) \
        else 1.0
    resources = (min(_ramp(queue_share, 0.0, 1.0), _ramp(growth, 1.0, 2.0)),
                 f"median queue {queue_share:.0%} of the build time; runner time {growth:.2f} x the baseline")
    categories = _failure_categories(window)
    weighted = (categories["timeout"] + categories["infrastructure"] + categories["other"]) / 0.2 + \
        categories["test"] / 0.4
    errors = (_clamp(100.0 * (1 - weighted / len(window))),
              "failed builds: " + ", ".join(f"{k} {v}" for k, v in categories.items() if v) if any(
                  categories.values()) else "no failed build")
    flaky = sum(bool(b.features.get("flaky_count")) for b in window)
    retried = sum((b.features.get("attempt") or 1) > 1 for b in window)
    stability = (_ramp((flaky + retried) / len(window), 0.0, 0.2),
                 f"{flaky} build(s) with flaky tests, {retried} retried, of {len(window)}")
    return {"test_success": (_clamp(test_score), test_text), "performance": perf, "resources": resources,
            "errors": errors, "stability": stability}


def _failure_categories(builds: list[Build]) -> dict[str, int]:
    found = {"test": 0, "timeout": 0, "infrastructure": 0, "other": 0}
    for b in builds:
        if not b.features.get("failed"):
            continue
        if b.features.get("conclusion") == "timed_out":
            found["timeout"] += 1
        elif b.features.get("failure_count"):
            found["test"] += 1
        elif b.features.get("test_count") == 0:
            found["infrastructure"] += 1
        else:
            found["other"] += 1
    return found


def health(builds: list[Build], now: float, settings: HealthSettings | None = None) -> dict[str, Any] | None:
    """Score, grade and dimensions (with trends) of the builds up to `now`; None without builds in the window."""
    cfg = settings or HealthSettings()
    span, base = cfg.window_days * DAY_S, cfg.baseline_days * DAY_S

    def between(start: float, end: float) -> list[Build]:
        return [b for b in builds if start < b.ts <= end]

    window = between(now - span, now)
    if not window:
        return None
    current = _dimensions(window, between(now - span - base, now - span))
    earlier_window = between(now - 2 * span, now - span)
    earlier = _dimensions(earlier_window, between(now - 2 * span - base, now - 2 * span)) if earlier_window else {}
    dimensions = []
    for name, weight in WEIGHTS.items():
        score, text = current[name]
        change = score - earlier[name][0] if name in earlier else 0.0
        trend = "steady" if abs(change) < cfg.steady_points else "improving" if change > 0 else "worsening"
        dimensions.append({"name": name, "weight": weight, "score": round(score, 1), "explanation": text,
                           "trend": trend, "change": round(change, 1)})
    total = sum(d["score"] * d["weight"] for d in dimensions)
    return {"score": round(total, 1), "grade": grade(total), "dimensions": dimensions, "builds": len(window)}
