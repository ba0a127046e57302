"""Run the streaming anomaly detector over a NAB-layout corpus and score it with NAB's rules.

    python scripts/bench/nab.py --data DIR/data --labels DIR/labels/combined_windows.json \
        [--out DIR] [--verbose] [--bank-bench] [--loo]

The detector is the worker's own `SeriesDetector`, fed point by point (causal). Results are written
in NAB's layout `<out>/<detector>/<category>/<detector>_<file>.csv`
(timestamp,value,anomaly_score,label), then scored for the three NAB profiles. `--loo` adds the
leave-one-category-out figures and the baselines (nab_loo.py).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import datetime
from functools import partial
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "services" / "worker"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from nab_loo import grid_configs, leave_one_out, windowed_gaussian  # noqa: E402
from nab_scoring import PROFILES, file_breakdown, score_corpus, window_index_ranges  # noqa: E402

from aiops_worker.anomalies.detectors import DetectorBank, DetectorConfig, SeriesDetector  # noqa: E402

DETECTOR = "aiops"


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def read_series(path: Path) -> tuple[list[str], list[datetime], list[float]]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    raw = [r["timestamp"] for r in rows]
    return raw, [parse_ts(t) for t in raw], [float(r["value"]) for r in rows]


def detect_file(path: Path, config: DetectorConfig | None = None) -> list[float]:
    _, stamps, values = read_series(path)
    detector = SeriesDetector(config)
    return [detector.update(ts.timestamp(), v).score for ts, v in zip(stamps, values)]


def gaussian_file(path: Path) -> list[float]:
    return windowed_gaussian(read_series(path)[2])


def write_results(out: Path, rel: str, path: Path, scores: list[float], labels: list[int]) -> None:
    category, name = rel.split("/")
    target = out / DETECTOR / category / f"{DETECTOR}_{name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    raw, _, values = read_series(path)
    with target.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for row in zip(raw, values, scores, labels):
            writer.writerow(row)


def run_corpus(data: Path, windows: dict, workers: int, detect=detect_file) -> dict[str, tuple[list[float], list]]:
    rels = sorted(str(p.relative_to(data)) for p in data.glob("*/*.csv") if str(p.relative_to(data)) in windows)
    with Pool(workers) as pool:
        scores = pool.map(detect, [data / r for r in rels])
    corpus = {}
    for rel, file_scores in zip(rels, scores):
        _, stamps, _ = read_series(data / rel)
        limits = [(parse_ts(a), parse_ts(b)) for a, b in windows[rel]]
        corpus[rel] = (file_scores, window_index_ranges(stamps, limits))
    return corpus


def labels_for(rows: int, ranges: list[tuple[int, int]]) -> list[int]:
    labels = [0] * rows
    for left, right in ranges:
        labels[left:right + 1] = [1] * (right - left + 1)
    return labels


def report(corpus: dict, verbose: bool) -> None:
    for profile in PROFILES:
        result, per_file = score_corpus(corpus, profile)
        print(f"{profile:20s} normalised {result.normalised:6.2f}  raw {result.raw:7.2f}  "
              f"threshold {result.threshold:.4f}  (null {result.null:.1f}, perfect {result.perfect:.1f})")
        if verbose and profile == "standard":
            for name, points in sorted(per_file.items()):
                score, hit, missed, fps = file_breakdown(points, result.threshold, PROFILES[profile]["fnWeight"])
                print(f"    {name:58s} {score:6.2f}  hit {hit} missed {missed} fp {fps}")


def bank_bench(series: int, points: int, seed: int = 0) -> None:
    """Points/s of a DetectorBank fed round-robin, like the worker's stream consumer."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, series)
    noise = rng.normal(0, 1, (points, series))
    bank = DetectorBank()
    ids = [f"series-{i}" for i in range(series)]
    start = time.perf_counter()
    half = points // 2
    for step in range(points):
        if step == half:
            mid = time.perf_counter()
        ts = 1_700_000_000 + 300 * step
        values = 50 + 10 * np.sin(2 * np.pi * step / 288 + phase) + noise[step]
        for sid, value in zip(ids, values.tolist()):
            bank.update(sid, ts, value)
    end = time.perf_counter()
    print(f"bank bench: {series} series x {points} points: {series * points / (end - start):,.0f} points/s "
          f"overall, {series * (points - half) / (end - mid):,.0f} points/s in the second half (warm)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="NAB data dir (<category>/<file>.csv)")
    parser.add_argument("--labels", type=Path, required=True, help="combined_windows.json")
    parser.add_argument("--out", type=Path, default=Path("bench-results/nab"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="per-file breakdown")
    parser.add_argument("--bank-bench", action="store_true", help="also time a bank of many series")
    parser.add_argument("--bank-series", type=int, default=1000)
    parser.add_argument("--bank-points", type=int, default=400)
    parser.add_argument("--loo", action="store_true", help="leave-one-category-out and baselines")
    args = parser.parse_args()
    windows = json.loads(args.labels.read_text())
    started = time.perf_counter()
    corpus = run_corpus(args.data, windows, args.workers)
    elapsed = time.perf_counter() - started
    rows = sum(len(s) for s, _ in corpus.values())
    print(f"detected {len(corpus)} files, {rows} points in {elapsed:.1f}s ({rows / elapsed:,.0f} points/s)")
    for rel, (scores, ranges) in corpus.items():
        write_results(args.out, rel, args.data / rel, scores, labels_for(len(scores), ranges))
    report(corpus, args.verbose)
    if args.loo:
        runs = {name: corpus if config == DetectorConfig() else
                run_corpus(args.data, windows, args.workers, partial(detect_file, config=config))
                for name, config in grid_configs().items()}
        leave_one_out(runs, run_corpus(args.data, windows, args.workers, gaussian_file))
    if args.bank_bench:
        bank_bench(args.bank_series, args.bank_points)


if __name__ == "__main__":
    main()
