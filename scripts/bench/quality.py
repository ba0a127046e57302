"""Detection quality of the shipped configuration: every detection benchmark, one JSON report.

    python scripts/bench/quality.py --data DIR [--out .data/quality.json] [--baseline FILE] [--check]

DIR is a benchmark-data folder (`loghub/`, `nab/`, as ../shared/bench-data). Runs, with the shipped
settings only (fixed seeds, no search; the leave-one-out searches stay in loghub.py / nab.py --loo):
- log template mining on every Loghub-2k set (loghub.py's scoring): GA and PA per set, Drain3 beside;
- NAB (nab.py's detector run, nab_scoring.py's score): the three profiles, standard per category;
- false alarms on generated noise (false_alarms.py): alerts per 10,000 points per kind;
- the capacity forecast backtest (forecast_backtest.py): median sMAPE and 95 % interval coverage per
  NAB category, the baselines beside, and time-to-exhaustion error on generated series.

The report (`--out`, read by the API's GET /api/v1/quality) says what was measured, on what data, when
and at which commit. `--check` compares it with `--baseline` (scripts/bench/quality_baseline.json) and
exits 1 when a score of the shipped detectors is more than 0.01 worse than there: a regression check,
not a target. `--write-baseline` replaces the baseline with this run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "services" / "worker"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import false_alarms
import forecast_backtest
import loghub
import nab
from nab_loo import normalised, only
from nab_scoring import PROFILES, score_corpus

SCHEMA_VERSION = 1
TOLERANCE = 0.01
BASELINE = Path(__file__).resolve().parent / "quality_baseline.json"
COVERAGE_TARGET = 0.95
FALSE_ALARM_SERIES_PER_KIND = 4  # 5 kinds x 4 series x 12 hours: 14,400 points
EXHAUSTION_SERIES = 12


def score(subject: str, metric: str, value: float, better: str, reference: bool = False) -> dict:
    """One figure. `better`: higher, lower or target (closest to COVERAGE_TARGET). `reference`: a baseline
    shown beside the shipped detectors, not checked for regressions."""
    return {"subject": subject, "metric": metric, "value": round(float(value), 4), "better": better,
            "reference": reference}


def loghub_benchmark(folder: Path) -> dict:
    formats = json.loads((folder / "formats.json").read_text())
    names = [n for n in sorted(formats) if (folder / n).is_dir()]
    scores, ours, drain = [], [], []
    for name in names:
        messages, truth = loghub.read_dataset(folder / name, formats[name])
        result, baseline = loghub.evaluate(name, messages, truth), loghub.evaluate_drain3(name, messages, truth)
        ours.append(result)
        drain.append(baseline)
        scores += [score(name, "GA", result.ga, "higher"), score(name, "PA", result.pa, "higher"),
                   score(name, "Drain3 GA", baseline.ga, "higher", True),
                   score(name, "Drain3 PA", baseline.pa, "higher", True)]
    scores += [score("average", "GA", loghub.mean(s.ga for s in ours), "higher"),
               score("average", "PA", loghub.mean(s.pa for s in ours), "higher"),
               score("average", "Drain3 GA", loghub.mean(s.ga for s in drain), "higher", True),
               score("average", "Drain3 PA", loghub.mean(s.pa for s in drain), "higher", True)]
    return {"name": "loghub", "title": "Log template mining (Loghub-2k, corrected labels)",
            "data": f"{len(names)} sets x 2,000 lines: {', '.join(names)}", "scores": scores}


def nab_benchmark(folder: Path, workers: int) -> dict:
    windows = json.loads((folder / "labels" / "combined_windows.json").read_text())
    corpus = nab.run_corpus(folder / "data", windows, workers)
    scores = [score("all", profile, score_corpus(corpus, profile)[0].normalised, "higher") for profile in PROFILES]
    categories = sorted({rel.split("/")[0] for rel in corpus})
    for category in categories:
        value = normalised(only(corpus, category), "standard")
        if value is not None:  # a category without windows has no NAB score
            scores.append(score(category, "standard", value, "higher"))
    points = sum(len(s) for s, _ in corpus.values())
    return {"name": "nab", "title": "Metric anomaly detection (NAB score, 0 = null detector, 100 = perfect)",
            "data": f"{len(corpus)} series, {points:,} points in {len(categories)} categories: {', '.join(categories)}",
            "scores": scores}


def false_alarm_benchmark(seed: int = 0) -> dict:
    hours = 12.0
    counts = false_alarms.run(FALSE_ALARM_SERIES_PER_KIND, hours, seed)
    scores = [score(kind, "alerts per 10k points", false_alarms.per_10k(alerts, points), "lower")
              for kind, (points, _, alerts) in counts.items()]
    points, alerts = sum(c[0] for c in counts.values()), sum(c[2] for c in counts.values())
    scores.append(score("all", "alerts per 10k points", false_alarms.per_10k(alerts, points), "lower"))
    return {"name": "false_alarms", "title": "False alarms on generated noise (no anomaly in it)",
            "data": f"{len(counts) * FALSE_ALARM_SERIES_PER_KIND} series ({', '.join(counts)}), {hours:g} h at one point "
                    f"a minute, seed {seed}: {points:,} points", "scores": scores}


def forecast_benchmark(folder: Path, seed: int = 0) -> dict:
    np.random.seed(seed)  # Prophet's uncertainty samples draw from numpy's global generator
    models = (forecast_backtest.SHIPPED, *forecast_backtest.BASELINES)
    table = forecast_backtest.backtest_corpus(folder / "data", models)
    scores = []
    for category, by_model in table.items():
        summaries = {m: forecast_backtest.summarise(rows) for m, rows in by_model.items()}
        scores.append(score(category, "median sMAPE %", summaries[models[0]]["median_smape"], "lower"))
        scores.append(score(category, "95% interval coverage", summaries[models[0]]["coverage"], "target"))
        scores += [score(category, f"median sMAPE % ({m.replace('_', ' ')})", summaries[m]["median_smape"], "lower",
                         True) for m in models[1:]]
    found = forecast_backtest.exhaustion_errors(EXHAUSTION_SERIES, seed)
    scores += [score("generated exhaustion", "median |eta error| / time left", found["median_relative_error"], "lower"),
               score("generated exhaustion", "window holds the truth", found["window_holds_truth"], "higher"),
               score("generated exhaustion", "95% interval coverage", found["coverage"], "target")]
    series = sum(len(by_model[models[0]]) for by_model in table.values())
    return {"name": "forecasts", "title": "Capacity forecasts (model chosen per series; last 15 % held back)",
            "data": f"{series} NAB series bucketed hourly in {len(table)} categories; {EXHAUSTION_SERIES} generated "
                    f"growth series with a known crossing, seed {seed}", "scores": scores}


def git_commit() -> str | None:
    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return found.stdout.strip() or None


def timed(run: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    benchmark = run()
    benchmark["duration_s"] = round(time.perf_counter() - started, 1)
    print(f"{benchmark['name']:14s} {benchmark['duration_s']:6.1f}s  {benchmark['data']}", flush=True)
    return benchmark


def build_report(data: Path, workers: int = 2) -> dict:
    started = time.perf_counter()
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    benchmarks = [timed(lambda: loghub_benchmark(data / "loghub")), timed(lambda: nab_benchmark(data / "nab", workers)),
                  timed(false_alarm_benchmark), timed(lambda: forecast_benchmark(data / "nab"))]
    return {"schema_version": SCHEMA_VERSION, "measured_at": measured_at, "git_commit": git_commit(),
            "data_path": str(data), "duration_s": round(time.perf_counter() - started, 1), "benchmarks": benchmarks}


def flat(report: dict) -> dict[str, dict]:
    """Every score by `benchmark/subject/metric`."""
    return {f"{b['name']}/{s['subject']}/{s['metric']}": s for b in report["benchmarks"] for s in b["scores"]}


def regressions(report: dict, baseline: dict, tolerance: float = TOLERANCE) -> list[str]:
    """The shipped detectors' scores more than `tolerance` worse than the baseline's (or missing)."""
    now, found = flat(report), []
    for key, before in flat(baseline).items():
        if before["reference"]:
            continue
        after = now.get(key)
        if after is None:
            found.append(f"{key}: missing (baseline {before['value']})")
        elif _worse_by(before, after["value"]) > tolerance:
            found.append(f"{key}: {after['value']} against baseline {before['value']}")
    return found


def _worse_by(before: dict, value: float) -> float:
    if before["better"] == "higher":
        return before["value"] - value
    if before["better"] == "lower":
        return value - before["value"]
    return abs(value - COVERAGE_TARGET) - abs(before["value"] - COVERAGE_TARGET)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with loghub/ and nab/")
    parser.add_argument("--out", type=Path, default=ROOT / ".data" / "quality.json")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--check", action="store_true", help="exit 1 on a regression against --baseline")
    parser.add_argument("--write-baseline", action="store_true", help="make this run the baseline")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    report = build_report(args.data, args.workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"report {args.out} ({report['duration_s']}s)")
    if args.write_baseline:
        args.baseline.write_text(json.dumps(report, indent=1) + "\n")
    if args.check:
        found = regressions(report, json.loads(args.baseline.read_text()))
        for line in found:
            print(f"REGRESSION {line}")
        sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
