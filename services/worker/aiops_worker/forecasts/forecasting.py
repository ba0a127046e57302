"""Capacity forecasting: what will a gauge read, and when will it reach its limit?

The history is averaged into hourly buckets (gaps interpolated) over at most `max_history_s`. The model
is chosen per series by a rolling-origin backtest (selection.py) among naive, seasonal naive, Theil–Sen
trend, ETS and Prophet (models.py), or named by the caller. Every forecast carries a central prediction
interval of probability `interval`.

Exhaustion comes from the forecast and its interval: the point forecast's first crossing of the
threshold is the estimate, the nearer band's crossing the earliest plausible time, the farther band's
the latest (infinite when that band does not cross within `max_horizon_s`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from aiops_worker.forecasts.models import Grid, predict
from aiops_worker.forecasts.selection import Selection, SelectionConfig, select

HOUR_S = 3600.0
DAY_S = 86_400.0
# Larger magnitudes are left out of the history: the models square differences of values, which overflow to
# inf from about 1.3e154 (no gauge reads this; 1e308 in a series made every backtest inf or NaN).
MAX_ABS_VALUE = 1e150


@dataclass(frozen=True)
class ForecastConfig:
    bucket_s: float = HOUR_S  # input is averaged into buckets of this size
    min_points: int = 24  # buckets needed for any forecast
    max_history_s: float = 30 * DAY_S
    interval: float = 0.95  # probability of the prediction interval
    max_horizon_s: float = 90 * DAY_S  # exhaustion further out than this is reported as None
    prophet_samples: int = 200  # uncertainty samples: bounds the Prophet cost
    selection: SelectionConfig = field(default_factory=SelectionConfig)


@dataclass(frozen=True)
class Forecast:
    ts: np.ndarray
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: str


@dataclass(frozen=True)
class Exhaustion:
    now: float  # timestamp of the last observation
    eta: float  # timestamp at which the point forecast reaches the threshold
    eta_low: float  # earliest plausible: the nearer interval band reaches it
    eta_high: float  # latest plausible; math.inf when the farther band does not within the horizon
    method: str

    def describe(self) -> str:
        """E.g. 'full in 2.5 days (1.9-3.4)'."""
        def days(t: float) -> str:
            return "inf" if math.isinf(t) else f"{(t - self.now) / DAY_S:.1f}"
        return f"full in {days(self.eta)} days ({days(self.eta_low)}-{days(self.eta_high)})"


def bucketed(timestamps: npt.ArrayLike, values: npt.ArrayLike, config: ForecastConfig) -> tuple[np.ndarray, np.ndarray]:
    """Finite points (values within ±`MAX_ABS_VALUE`) of the last `max_history_s`, averaged per bucket
    (bounded fit size)."""
    ts, ys = np.asarray(timestamps, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(ts) & np.isfinite(ys) & (np.abs(ys) <= MAX_ABS_VALUE)
    ts, ys = ts[keep], ys[keep]
    if len(ts) == 0:
        return ts, ys
    keep = ts >= ts.max() - config.max_history_s
    keys = np.floor(ts[keep] / config.bucket_s)
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=ys[keep])
    counts = np.bincount(inverse)
    return (uniq + 0.5) * config.bucket_s, sums / counts


def to_grid(timestamps: npt.ArrayLike, values: npt.ArrayLike, config: ForecastConfig) -> Grid | None:
    """The bucketed history on a regular grid (missing buckets interpolated); None if too short."""
    ts, ys = bucketed(timestamps, values, config)
    if len(ts) < config.min_points:
        return None
    regular = np.arange(ts[0], ts[-1] + config.bucket_s / 2, config.bucket_s)
    return Grid(float(ts[0]), config.bucket_s, np.interp(regular, ts, ys), round(DAY_S / config.bucket_s))


def steps_for(horizon_s: float, config: ForecastConfig) -> int:
    return max(1, int(math.ceil(horizon_s / config.bucket_s - 1e-9)))


def forecast_grid(grid: Grid, model: str | Selection, steps: int, config: ForecastConfig) -> Forecast:
    """The forecast of a named model, or of a selected one with its calibrated interval."""
    selection = model if isinstance(model, Selection) else Selection(model, {})
    predicted = predict(selection.model, grid, steps, config.interval, config.prophet_samples)
    future = grid.ts[-1] + grid.step * np.arange(1, steps + 1)
    lower = predicted.yhat - selection.scale * (predicted.yhat - predicted.lower)
    upper = predicted.yhat + selection.scale * (predicted.upper - predicted.yhat)
    return Forecast(future, predicted.yhat, lower, upper, selection.model)


def choose(grid: Grid, steps: int, config: ForecastConfig) -> Selection:
    """The selection (model and interval calibration) for forecasting `steps` buckets."""
    return select(grid, steps, config.selection, level=config.interval, samples=config.prophet_samples)


@dataclass
class ModelChoices:
    """The selection per series key, made again once older than `ttl_s` (between two, only the chosen
    model is fitted)."""
    ttl_s: float
    config: ForecastConfig = field(default_factory=ForecastConfig)
    chosen: dict[str, tuple[float, Selection]] = field(default_factory=dict)

    def selection_for(self, key: str, grid: Grid, steps: int, now: float) -> Selection:
        cached = self.chosen.get(key)
        if cached is None or now - cached[0] >= self.ttl_s:
            cached = (now, choose(grid, steps, self.config))
            self.chosen[key] = cached
        return cached[1]

    def keep_only(self, keys: set[str]) -> None:
        """Forget series no longer forecast."""
        for key in set(self.chosen) - keys:
            del self.chosen[key]


def forecast(timestamps: npt.ArrayLike, values: npt.ArrayLike, horizon: float, method: str = "auto",
             config: ForecastConfig | None = None) -> Forecast | None:
    """Forecast every bucket of the next `horizon` seconds; None if the history is too short."""
    cfg = config or ForecastConfig()
    grid = to_grid(timestamps, values, cfg)
    return None if grid is None else _forecast(grid, steps_for(horizon, cfg), method, cfg)


def _forecast(grid: Grid, steps: int, method: str, config: ForecastConfig) -> Forecast:
    return forecast_grid(grid, choose(grid, steps, config) if method == "auto" else method, steps, config)


def exhaustion(result: Forecast, now: float, last: float, threshold: float) -> Exhaustion | None:
    """When `result` reaches `threshold` from `last` (the value at `now`), from below or above; None when
    the point forecast does not within the forecast."""
    if threshold == last:
        return None
    sign = 1.0 if threshold > last else -1.0
    near, far = (result.upper, result.lower) if sign > 0 else (result.lower, result.upper)
    eta, eta_low, eta_high = (_crossing(result.ts, sign * series, now, sign * last, sign * threshold)
                              for series in (result.yhat, near, far))
    if math.isinf(eta):
        return None
    return Exhaustion(now, eta, min(eta_low, eta), max(eta_high, eta), result.method)


def _crossing(ts: np.ndarray, series: np.ndarray, now: float, last: float, threshold: float) -> float:
    """First time the rising-side `series` reaches `threshold`, interpolated between buckets."""
    hit = series >= threshold
    if not hit.any():
        return math.inf
    i = int(np.argmax(hit))
    t0, y0 = (now, last) if i == 0 else (float(ts[i - 1]), float(series[i - 1]))
    t1, y1 = float(ts[i]), float(series[i])
    return t1 if y1 == y0 else t0 + (threshold - y0) / (y1 - y0) * (t1 - t0)


def predict_exhaustion(timestamps: npt.ArrayLike, values: npt.ArrayLike, threshold: float, method: str = "auto",
                       config: ForecastConfig | None = None) -> Exhaustion | None:
    """When the series reaches `threshold` (from below or above); None if not within `max_horizon_s`."""
    cfg = config or ForecastConfig()
    grid = to_grid(timestamps, values, cfg)
    if grid is None:
        return None
    result = _forecast(grid, steps_for(cfg.max_horizon_s, cfg), method, cfg)
    return exhaustion(result, float(grid.ts[-1]), float(grid.ys[-1]), threshold)
