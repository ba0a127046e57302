"""The pipelines analytics on generated histories (scripts/bench/pipelines_eval.py's generator): features,
flaky tests, health score and grade, forecasts with intervals and their backtest, RCA and its series checks."""

import importlib.util
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from aiops_contracts.pipelines import JobIn, PipelineRunPayload, Provider, StepIn, TestIn, TestOutcome
from aiops_worker.pipelines.correlation import granger, lagged_correlation
from aiops_worker.pipelines.detection import detect
from aiops_worker.pipelines.features import build_features, flaky_tests
from aiops_worker.pipelines.forecast import forecasts
from aiops_worker.pipelines.health import grade, health
from aiops_worker.pipelines.rca import analyse

_spec = importlib.util.spec_from_file_location("pipelines_eval",
                                               Path(__file__).parents[4] / "scripts/bench/pipelines_eval.py")
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules["pipelines_eval"] = bench  # its dataclasses look their module up
_spec.loader.exec_module(bench)
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_build_features_of_a_run() -> None:
    run = PipelineRunPayload(
        provider=Provider.github_actions, pipeline_key="o/r/ci.yml", pipeline_name="o/r: CI", external_id="1:1",
        status="completed", conclusion="failure", queued_at=T0, started_at=T0 + timedelta(seconds=30),
        finished_at=T0 + timedelta(seconds=630),
        jobs=[JobIn(external_id="j", name="build", started_at=T0 + timedelta(seconds=30),
                    finished_at=T0 + timedelta(seconds=330), steps=[StepIn(number=1, name="a"), StepIn(number=2, name="b")])],
        tests=[TestIn(name="t1", outcome=TestOutcome.passed), TestIn(name="t2", outcome=TestOutcome.failed),
               TestIn(name="t3", outcome=TestOutcome.failed), TestIn(name="t4", outcome=TestOutcome.skipped)])
    features = build_features(run)
    assert {k: features[k] for k in ("duration_s", "queue_s", "test_count", "failure_count", "job_count",
                                     "step_count", "runner_s", "duration_per_test_s", "failed")} == {
        "duration_s": 600.0, "queue_s": 30.0, "test_count": 3, "failure_count": 2, "job_count": 1, "step_count": 2,
        "runner_s": 300.0, "duration_per_test_s": 200.0, "failed": 1}
    assert math.isclose(features["failure_rate"], 2 / 3)


def test_flaky_tests_are_same_commit_different_outcome() -> None:
    outcomes = [("abc", "t1", "passed"), ("abc", "t1", "failed"), ("abc", "t2", "failed"), ("def", "t2", "passed"),
                ("abc", "t3", "skipped"), ("abc", "t3", "passed")]
    assert flaky_tests(outcomes) == {"t1"}


def test_clean_history_grades_well_and_forecasts_with_intervals() -> None:
    history = bench.generate(42, 60, None)
    now = history.builds[-1].ts
    scored = health(history.builds, now)
    assert scored is not None and scored["grade"] in ("A", "B")
    assert abs(scored["score"] - sum(d["score"] * d["weight"] for d in scored["dimensions"])) < 0.2
    assert [d["name"] for d in scored["dimensions"]] == ["test_success", "performance", "resources", "errors",
                                                         "stability"]
    assert sum(d["weight"] for d in scored["dimensions"]) == 1.0
    assert all(d["trend"] in ("improving", "steady", "worsening") and d["explanation"] for d in scored["dimensions"])
    assert detect(history.builds) == []
    predicted = forecasts(history.builds)
    assert set(predicted) == {"failure_rate", "duration_s"}
    for name, forecast in predicted.items():
        assert len(forecast["points"]) == 7 and forecast["interval"] == 0.95
        assert all(lo <= y <= hi for _, y, lo, hi in forecast["points"]), name
        assert forecast["backtest_smape"]["seasonal_naive"] is not None
    assert all(lo >= 0 and hi <= 1 for _, _, lo, hi in predicted["failure_rate"]["points"])


def test_grades_bound_the_score() -> None:
    assert [grade(s) for s in (95, 85, 75, 65, 10)] == ["A", "B", "C", "D", "F"]


def test_runner_change_is_detected_degrades_health_and_is_named_first() -> None:
    history = bench.generate(7, 90, "runner_change")
    truth = history.injected
    found = [a for a in detect(history.builds) if a.ts >= truth.ts]
    assert found and found[0].kind in ("slow_build", "queue_congestion") and found[0].ts - truth.ts < 3 * 86_400
    rca = analyse(history.builds[:found[0].index + 1], found[0].index, found[0].kind)
    assert (rca.causes[0].kind, rca.causes[0].name) == ("runner_change", truth.name)
    assert abs(rca.onset_index - truth.index) <= 3
    (check, *_) = rca.checks
    assert check["from"] == truth.name and check["granger_p"] is not None and check["caveats"]
    later = health(history.builds, history.builds[-1].ts)
    before = health(history.builds, truth.ts - 1)
    assert later["score"] < before["score"]
    performance = next(d for d in later["dimensions"] if d["name"] == "performance")
    assert performance["score"] < 100


def test_flaky_test_is_a_failure_spike_named_by_its_test() -> None:
    history = bench.generate(11, 90, "flaky_test")
    truth = history.injected
    found = [a for a in detect(history.builds) if a.ts >= truth.ts and a.kind == "failure_spike"]
    assert found
    rca = analyse(history.builds[:found[0].index + 1], found[0].index, found[0].kind)
    assert rca.causes[0].kind in ("flaky_test", "failing_test") and rca.causes[0].name == truth.name


def test_granger_finds_a_leading_series_and_not_noise() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    y = np.r_[0.0, 0.9 * x[:-1]] + 0.3 * rng.normal(size=400)
    assert granger(x, y)[1] < 1e-6
    assert granger(rng.normal(size=400), y)[1] > 0.01
    assert lagged_correlation(x, y)[0] == 1
