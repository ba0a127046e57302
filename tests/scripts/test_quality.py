"""scripts/bench/quality.py: the detection benchmarks with the shipped configuration on ../shared/bench-data
score no more than 0.01 below the committed baseline (scripts/bench/quality_baseline.json), and the report
is written where the API reads it (.data/quality.json, QUALITY_REPORT_PATH's default)."""

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench" / "quality.py"
DATA = ROOT.parent / "shared" / "bench-data"


def load_quality():
    spec = importlib.util.spec_from_file_location("quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality"] = module
    spec.loader.exec_module(module)
    return module


def report_of(*scores: dict) -> dict:
    return {"benchmarks": [{"name": "b", "scores": list(scores)}]}


def entry(metric: str, value: float, better: str, reference: bool = False) -> dict:
    return {"subject": "s", "metric": metric, "value": value, "better": better, "reference": reference}


def test_regressions_are_scores_more_than_a_hundredth_worse() -> None:
    quality = load_quality()
    baseline = report_of(entry("GA", 0.90, "higher"), entry("sMAPE", 20.0, "lower"),
                         entry("coverage", 0.95, "target"), entry("Drain3 GA", 0.8, "higher", reference=True))
    same = copy.deepcopy(baseline)
    assert quality.regressions(same, baseline) == []
    worse = report_of(entry("GA", 0.885, "higher"), entry("sMAPE", 20.02, "lower"), entry("coverage", 0.93, "target"),
                      entry("Drain3 GA", 0.1, "higher", reference=True))
    assert [line.split(":")[0] for line in quality.regressions(worse, baseline)] == ["b/s/GA", "b/s/sMAPE",
                                                                                    "b/s/coverage"]
    assert quality.regressions(report_of(), baseline)[0] == "b/s/GA: missing (baseline 0.9)"


@pytest.mark.slow
def test_shipped_detectors_hold_the_baseline_and_the_report_is_written_for_the_api() -> None:
    if not (DATA / "loghub").is_dir() or not (DATA / "nab").is_dir():
        pytest.skip(f"no benchmark data at {DATA}")
    quality = load_quality()
    report = quality.build_report(DATA)
    out = ROOT / ".data" / "quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    assert {b["name"] for b in report["benchmarks"]} == {"loghub", "nab", "false_alarms", "forecasts"}
    assert quality.regressions(report, json.loads(quality.BASELINE.read_text())) == []
