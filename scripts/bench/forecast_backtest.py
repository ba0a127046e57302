"""Backtest the capacity forecasters on held-back tails of NAB-layout series.

    python scripts/bench/forecast_backtest.py --data DIR/data [--holdout 0.15]

Each series is bucketed hourly (as the forecaster does); the last `holdout` share of buckets is
hidden, each method forecasts it from the rest, and MAPE / sMAPE are reported per method
(median over series, plus the mean). Baselines: last value (naive) and same hour yesterday.
"""
from __future__ import annotations

import argparse
import csv
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from aiops_worker.forecasts.forecasting import ForecastConfig, bucketed, forecast  # noqa: E402

METHODS = ("trend", "prophet", "auto", "naive", "seasonal_naive")


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    ts = np.array([datetime.fromisoformat(r["timestamp"]).timestamp() for r in rows])
    return ts, np.array([float(r["value"]) for r in rows])


def errors(actual: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    nonzero = actual != 0
    mape = float(np.mean(np.abs((actual - predicted)[nonzero] / actual[nonzero]))) * 100
    denom = np.abs(actual) + np.abs(predicted)
    ok = denom > 0
    smape = float(np.mean(2 * np.abs(actual - predicted)[ok] / denom[ok])) * 100
    return mape, smape


def predict(method: str, ts: np.ndarray, ys: np.ndarray, horizon: int) -> np.ndarray:
    if method == "naive":
        return np.full(horizon, ys[-1])
    if method == "seasonal_naive":
        return np.resize(ys[-24:], horizon)
    fc = forecast(ts, ys, horizon=horizon * 3600.0, step=3600.0, method=method)
    return fc.yhat[:horizon]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--holdout", type=float, default=0.15)
    args = parser.parse_args()
    config = ForecastConfig()
    table: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    for path in sorted(args.data.glob("*/*.csv")):
        ts, ys = bucketed(*load(path), config)
        cut = int(len(ts) * (1 - args.holdout))
        if cut < config.min_points or len(ts) - cut < 2:
            continue
        # Gaps in the hourly grid: score only the buckets the series actually has.
        horizon = int(round((ts[-1] - ts[cut - 1]) / 3600.0))
        offsets = np.round((ts[cut:] - ts[cut - 1]) / 3600.0).astype(int) - 1
        for method in METHODS:
            predicted = predict(method, ts[:cut], ys[:cut], horizon)
            table[method].append(errors(ys[cut:], predicted[offsets]))
    print(f"{len(table['trend'])} series, last {args.holdout:.0%} of hourly buckets held back")
    print(f"{'method':16s} {'MAPE med':>9s} {'MAPE mean':>10s} {'sMAPE med':>10s} {'sMAPE mean':>11s}")
    for method, rows in table.items():
        mape, smape = np.array(rows).T
        print(f"{method:16s} {np.median(mape):9.1f} {np.mean(mape):10.1f} {np.median(smape):10.1f} {np.mean(smape):11.1f}")


if __name__ == "__main__":
    main()
