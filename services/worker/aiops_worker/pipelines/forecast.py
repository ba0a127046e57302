"""7-day forecasts of a pipeline's daily failure rate and mean build duration, with 95 % intervals.

Daily buckets (a day without builds is interpolated) on a weekly season, and the forecasting code's own model
selection (forecasts/selection.py: a rolling-origin backtest, seasonal naive unless another model does clearly better,
intervals calibrated on the same backtest). The backtest's sMAPE of the chosen model is reported beside the
seasonal-naive baseline's (same week-day last week), so the forecast says whether it beats that baseline.
Prophet is left out: a second per fit, for two series per pipeline every analysis.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aiops_worker.forecasts.forecasting import ForecastConfig, forecast_grid
from aiops_worker.forecasts.models import Grid
from aiops_worker.forecasts.selection import SelectionConfig, select
from aiops_worker.pipelines.features import Build

DAY_S = 86_400.0
HORIZON_DAYS = 7
MIN_DAYS = 14
CONFIG = ForecastConfig(bucket_s=DAY_S, min_points=MIN_DAYS, interval=0.95,
                        selection=SelectionConfig(prophet_min_days=math.inf))
SERIES = {"failure_rate": "failed", "duration_s": "duration_s"}


def daily(builds: list[Build], feature: str) -> Grid | None:
    """Mean of `feature` per UTC day (missing days interpolated), weekly season; None under MIN_DAYS days."""
    points = [(math.floor(b.ts / DAY_S), float(b.features[feature])) for b in builds
              if b.features.get(feature) is not None]
    if not points:
        return None
    days = np.array([d for d, _ in points])
    values = np.array([v for _, v in points])
    present = np.unique(days)
    means = np.array([values[days == d].mean() for d in present])
    if present[-1] - present[0] + 1 < MIN_DAYS:
        return None
    every = np.arange(present[0], present[-1] + 1)
    return Grid(float(every[0] * DAY_S), DAY_S, np.interp(every, present, means), 7)


def forecasts(builds: list[Build]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, feature in SERIES.items():
        grid = daily(builds, feature)
        if grid is None:
            continue
        selection = select(grid, HORIZON_DAYS, CONFIG.selection, level=CONFIG.interval)
        result = forecast_grid(grid, selection, HORIZON_DAYS, CONFIG)
        low = 0.0
        high = 1.0 if name == "failure_rate" else math.inf
        out[name] = {
            "method": result.method,
            "points": [[float(t), float(y), max(low, float(lo)), min(high, float(hi))]
                       for t, y, lo, hi in zip(result.ts, result.yhat, result.lower, result.upper, strict=True)],
            "backtest_smape": {"chosen": selection.scores.get(result.method),
                               "seasonal_naive": selection.scores.get("seasonal_naive")},
            "interval": CONFIG.interval,
        }
    return out
