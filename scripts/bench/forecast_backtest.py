"""Backtest the capacity forecasters on held-back tails of NAB-layout series and on generated exhaustions.

    python scripts/bench/forecast_backtest.py --data DIR/data [--holdout 0.15] [--shipped] [--generated 30]

NAB-layout series (`<category>/<file>.csv`): each is bucketed hourly (as the forecaster does); the last
`holdout` share of buckets is hidden and every model forecasts it from the rest. `chosen` is the shipped
forecaster: the model picked per series by the rolling-origin backtest on the visible part (selection.py).
Printed per category: median sMAPE per model, and the share of held-back buckets inside the 95 % interval
(coverage). `--shipped` scores only `chosen` and the two baselines (naive, seasonal naive).

Generated series (fixed seed): linear or logarithmic growth, daily season and noise, with a threshold
that the noise-free curve first reaches at a known time, 6 hours to 7 days after the history ends. The
chosen model's time-to-exhaustion error (relative to the true time left), how often the exhaustion window
holds the truth, its width, and the interval coverage of the points before the crossing are printed.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from aiops_worker.forecasts.forecasting import (
    ForecastConfig,
    bucketed,
    choose,
    exhaustion,
    forecast_grid,
    steps_for,
    to_grid,
)
from aiops_worker.forecasts.models import MODELS
from aiops_worker.forecasts.selection import smape

HOUR_S = 3600.0
DAY_S = 86_400.0
BASELINES = ("naive", "seasonal_naive")
SHIPPED = "chosen"
T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Scored:
    smape: float
    inside: int  # held-back buckets inside the interval
    points: int


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    ts = np.array([datetime.fromisoformat(r["timestamp"]).timestamp() for r in rows])
    return ts, np.array([float(r["value"]) for r in rows])


def backtest_series(ts: np.ndarray, ys: np.ndarray, models: tuple[str, ...], holdout: float,
                    config: ForecastConfig) -> dict[str, Scored] | None:
    """Each model (SHIPPED: the selected one) forecasts the last `holdout` of the hourly buckets."""
    ts, ys = bucketed(ts, ys, config)
    cut = int(len(ts) * (1 - holdout))
    if cut < config.min_points or len(ts) - cut < 2:
        return None
    grid = to_grid(ts[:cut], ys[:cut], config)
    # Gaps in the hourly grid: score only the buckets the series actually has.
    steps = steps_for(ts[-1] - grid.ts[-1], config)
    offsets = np.round((ts[cut:] - grid.ts[-1]) / config.bucket_s).astype(int) - 1
    scored = {}
    for model in models:
        result = forecast_grid(grid, choose(grid, steps, config) if model == SHIPPED else model, steps, config)
        actual = ys[cut:]
        inside = (actual >= result.lower[offsets]) & (actual <= result.upper[offsets])
        scored[model] = Scored(smape(actual, result.yhat[offsets]), int(inside.sum()), len(actual))
    return scored


def backtest_corpus(data: Path, models: tuple[str, ...], holdout: float = 0.15,
                    config: ForecastConfig | None = None) -> dict[str, dict[str, list[Scored]]]:
    """Per category, per model: the score of every series."""
    cfg = config or ForecastConfig()
    table: dict[str, dict[str, list[Scored]]] = {}
    for path in sorted(data.glob("*/*.csv")):
        scored = backtest_series(*load(path), models, holdout, cfg)
        if scored is None:
            continue
        category = table.setdefault(path.parent.name, {m: [] for m in models})
        for model, result in scored.items():
            category[model].append(result)
    return table


def summarise(rows: list[Scored]) -> dict[str, float]:
    """Median sMAPE over series; coverage over all held-back buckets."""
    return {"median_smape": float(np.median([r.smape for r in rows])),
            "coverage": sum(r.inside for r in rows) / sum(r.points for r in rows), "series": len(rows)}


@dataclass(frozen=True)
class Generated:
    ts: np.ndarray  # history, every 10 minutes
    ys: np.ndarray
    future_ts: np.ndarray  # after the history, every 10 minutes, noisy like it
    future_ys: np.ndarray
    threshold: float
    crossing: float  # when the noise-free curve first reaches the threshold


def generate(kind: str, rng: np.random.Generator, history_days: float = 14.0) -> Generated:
    """One growing series ('linear' or 'log') whose noise-free curve first reaches the threshold 6 hours
    to 7 days after the history (drawn again until it does)."""
    step = 600.0
    now = T0 + history_days * DAY_S
    ts = np.arange(T0, now + 8 * DAY_S, step)
    days = (ts - T0) / DAY_S
    while True:
        rate = rng.uniform(0.5, 3.0)  # % a day (log: at the start)
        growth = rate * days if kind == "linear" else rate * 5.0 * np.log1p(days / 5.0)
        clean = 40.0 + growth + rng.uniform(0.0, 3.0) * np.sin(2 * np.pi * days + rng.uniform(0, 2 * np.pi))
        threshold = float(40.0 + np.interp(now + rng.uniform(0.5, 7.0) * DAY_S, ts, growth))
        crossing = float(ts[np.argmax(clean >= threshold)])
        if crossing >= now + 6 * HOUR_S:
            break
    noisy = clean + rng.normal(0.0, rng.uniform(0.2, 1.0), len(ts))
    past = ts <= now
    ahead = (ts > now) & (ts < crossing)
    return Generated(ts[past], noisy[past], ts[ahead], noisy[ahead], threshold, crossing)


def exhaustion_errors(count: int, seed: int = 0, config: ForecastConfig | None = None) -> dict[str, float]:
    """The shipped forecaster on `count` generated series (half linear, half log growth)."""
    cfg = config or ForecastConfig()
    rng = np.random.default_rng(seed)
    errors, held, widths, inside, points = [], 0, [], 0, 0
    for i in range(count):
        case = generate("linear" if i % 2 == 0 else "log", rng)
        grid = to_grid(case.ts, case.ys, cfg)
        steps = steps_for(cfg.max_horizon_s, cfg)
        result = forecast_grid(grid, choose(grid, steps, cfg), steps, cfg)
        now = float(grid.ts[-1])
        found = exhaustion(result, now, float(grid.ys[-1]), case.threshold)
        left = case.crossing - now
        if found is None:
            errors.append(math.inf)
        else:
            errors.append(abs(found.eta - case.crossing) / left)
            held += found.eta_low <= case.crossing <= found.eta_high
            widths.append((min(found.eta_high, now + cfg.max_horizon_s) - found.eta_low) / left)
        future_ts, future_ys = bucketed(case.future_ts, case.future_ys, cfg)
        offsets = np.round((future_ts - now) / cfg.bucket_s).astype(int) - 1
        ok = (offsets >= 0) & (offsets < steps)
        actual, offsets = future_ys[ok], offsets[ok]
        inside += int(((actual >= result.lower[offsets]) & (actual <= result.upper[offsets])).sum())
        points += len(actual)
    return {"series": count, "median_relative_error": float(np.median(errors)),
            "window_holds_truth": held / count, "median_relative_width": float(np.median(widths)),
            "coverage": inside / points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--holdout", type=float, default=0.15)
    parser.add_argument("--shipped", action="store_true", help="only the chosen model and the baselines")
    parser.add_argument("--generated", type=int, default=30, help="generated exhaustion series")
    args = parser.parse_args()
    models = (SHIPPED, *BASELINES) if args.shipped else (SHIPPED, *MODELS)
    table = backtest_corpus(args.data, models, args.holdout)
    print(f"last {args.holdout:.0%} of hourly buckets held back; median sMAPE per model, 95 % interval coverage")
    print(f"{'category':22s} {'series':>6s} " + " ".join(f"{m:>15s}" for m in models) + "  coverage(chosen)")
    for category, by_model in table.items():
        summaries = {m: summarise(rows) for m, rows in by_model.items()}
        print(f"{category:22s} {len(by_model[SHIPPED]):6d} "
              + " ".join(f"{summaries[m]['median_smape']:15.2f}" for m in models)
              + f"  {summaries[SHIPPED]['coverage']:.3f}")
    everything = {m: summarise([r for c in table.values() for r in c[m]]) for m in models}
    print(f"{'ALL':22s} {everything[SHIPPED]['series']:6d} "
          + " ".join(f"{everything[m]['median_smape']:15.2f}" for m in models)
          + f"  {everything[SHIPPED]['coverage']:.3f}")
    if args.generated:
        found = exhaustion_errors(args.generated)
        print(f"generated exhaustion ({found['series']} series): median |eta error| {found['median_relative_error']:.1%}"
              f" of the time left, window holds the truth {found['window_holds_truth']:.0%}, median window width "
              f"{found['median_relative_width']:.2f} x time left, coverage {found['coverage']:.3f}")


if __name__ == "__main__":
    main()
