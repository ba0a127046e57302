"""Capacity forecasting: when will a gauge reach its limit?

Two methods, chosen per series:
- `trend`: Theil–Sen line on hourly means (robust to spikes and outliers); the interval comes
  from the slope's confidence band.
- `prophet`: used only when the hourly series shows daily seasonality and has enough history,
  because a fit costs about a second; the input is capped at `max_history_s` of hourly points.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import theilslopes

Method = Literal["auto", "trend", "prophet"]
HOUR_S = 3600.0
DAY_S = 86_400.0


@dataclass(frozen=True)
class ForecastConfig:
    bucket_s: float = HOUR_S  # input is averaged into buckets of this size
    min_points: int = 24  # buckets needed for any forecast
    max_history_s: float = 30 * DAY_S
    prophet_min_s: float = 3 * DAY_S  # history needed before Prophet is considered
    seasonal_min_corr: float = 0.5  # daily autocorrelation that makes a series seasonal
    interval: float = 0.8  # width of the prediction interval
    max_horizon_s: float = 90 * DAY_S  # exhaustion further out than this is reported as None
    prophet_samples: int = 200  # uncertainty samples: bounds the Prophet cost


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
    eta: float  # timestamp at which the threshold is reached
    eta_low: float  # earliest plausible (interval bound)
    eta_high: float  # latest plausible; math.inf when the trend may be flat
    method: str
    slope: float  # units per second at the end of the history

    def describe(self) -> str:
        """E.g. 'full in 2.5 days (1.9-3.4)'."""
        def days(t: float) -> str:
            return "inf" if math.isinf(t) else f"{(t - self.now) / DAY_S:.1f}"
        return f"full in {days(self.eta)} days ({days(self.eta_low)}-{days(self.eta_high)})"


def bucketed(timestamps, values, config: ForecastConfig) -> tuple[np.ndarray, np.ndarray]:
    """Finite points of the last `max_history_s`, averaged per bucket (bounded fit size)."""
    ts, ys = np.asarray(timestamps, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(ts) & np.isfinite(ys)
    ts, ys = ts[keep], ys[keep]
    if len(ts) == 0:
        return ts, ys
    keep = ts >= ts.max() - config.max_history_s
    keys = np.floor(ts[keep] / config.bucket_s)
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=ys[keep])
    counts = np.bincount(inverse)
    return (uniq + 0.5) * config.bucket_s, sums / counts


def is_daily_seasonal(ts: np.ndarray, ys: np.ndarray, config: ForecastConfig) -> bool:
    if len(ts) < 2 or ts[-1] - ts[0] < config.prophet_min_s:
        return False
    lag = int(round(DAY_S / config.bucket_s))
    detrended = ys - np.polyval(np.polyfit(ts - ts[0], ys, 1), ts - ts[0])
    a, b = detrended[lag:], detrended[:-lag]
    if len(a) < lag or a.std() == 0 or b.std() == 0:
        return False
    return float(np.corrcoef(a, b)[0, 1]) >= config.seasonal_min_corr


def choose_method(ts: np.ndarray, ys: np.ndarray, method: Method, config: ForecastConfig) -> str:
    if method != "auto":
        return method
    return "prophet" if is_daily_seasonal(ts, ys, config) else "trend"


def forecast(timestamps, values, horizon: float, step: float, method: Method = "auto",
             config: ForecastConfig | None = None) -> Forecast | None:
    """Forecast `horizon` seconds past the last point every `step` seconds; None if too short."""
    cfg = config or ForecastConfig()
    ts, ys = bucketed(timestamps, values, cfg)
    if len(ts) < cfg.min_points:
        return None
    future = ts[-1] + np.arange(step, horizon + step / 2, step)
    if choose_method(ts, ys, method, cfg) == "prophet":
        return _prophet_forecast(ts, ys, future, cfg)
    return _trend_forecast(ts, ys, future, cfg)


def _trend_forecast(ts: np.ndarray, ys: np.ndarray, future: np.ndarray,
                    cfg: ForecastConfig) -> Forecast:
    slope, intercept, _, _ = theilslopes(ys, ts - ts[0], alpha=cfg.interval)
    fitted = intercept + slope * (ts - ts[0])
    lo_q, hi_q = np.quantile(ys - fitted, [(1 - cfg.interval) / 2, (1 + cfg.interval) / 2])
    yhat = intercept + slope * (future - ts[0])
    return Forecast(future, yhat, yhat + lo_q, yhat + hi_q, "trend")


def _prophet_forecast(ts: np.ndarray, ys: np.ndarray, future: np.ndarray,
                      cfg: ForecastConfig) -> Forecast:
    import pandas as pd
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)  # one line per fit otherwise
    weekly = ts[-1] - ts[0] >= 14 * DAY_S
    model = Prophet(daily_seasonality=True, weekly_seasonality=weekly, yearly_seasonality=False,
                    interval_width=cfg.interval, uncertainty_samples=cfg.prophet_samples)
    model.fit(pd.DataFrame({"ds": pd.to_datetime(ts, unit="s"), "y": ys}))
    predicted = model.predict(pd.DataFrame({"ds": pd.to_datetime(future, unit="s")}))
    return Forecast(future, predicted["yhat"].to_numpy(), predicted["yhat_lower"].to_numpy(),
                    predicted["yhat_upper"].to_numpy(), "prophet")


def predict_exhaustion(timestamps, values, threshold: float, method: Method = "auto",
                       config: ForecastConfig | None = None) -> Exhaustion | None:
    """When the series reaches `threshold` (from below or above); None if not within horizon."""
    cfg = config or ForecastConfig()
    ts, ys = bucketed(timestamps, values, cfg)
    if len(ts) < cfg.min_points:
        return None
    if choose_method(ts, ys, method, cfg) == "prophet":
        return _prophet_exhaustion(ts, ys, threshold, cfg)
    return _trend_exhaustion(ts, ys, threshold, cfg)


def _trend_exhaustion(ts: np.ndarray, ys: np.ndarray, threshold: float,
                      cfg: ForecastConfig) -> Exhaustion | None:
    slope, intercept, lo_slope, hi_slope = theilslopes(ys, ts - ts[0], alpha=cfg.interval)
    now = float(ts[-1])
    gap = threshold - (intercept + slope * (now - ts[0]))
    if gap == 0 or slope * gap <= 0:
        return None  # already there, or moving away from the threshold
    # The steeper slope bound reaches the threshold first.
    steep, shallow = (hi_slope, lo_slope) if gap > 0 else (lo_slope, hi_slope)
    eta = now + gap / slope
    eta_low = now + gap / steep
    eta_high = now + gap / shallow if shallow * gap > 0 else math.inf
    if eta - now > cfg.max_horizon_s:
        return None
    return Exhaustion(now, eta, eta_low, eta_high, "trend", float(slope))


def _prophet_exhaustion(ts: np.ndarray, ys: np.ndarray, threshold: float,
                        cfg: ForecastConfig) -> Exhaustion | None:
    now = float(ts[-1])
    result = _prophet_forecast(ts, ys, now + np.arange(cfg.bucket_s, cfg.max_horizon_s, cfg.bucket_s), cfg)
    rising = threshold > ys[-1]

    def first_crossing(series: np.ndarray) -> float:
        hit = series >= threshold if rising else series <= threshold
        return float(result.ts[np.argmax(hit)]) if hit.any() else math.inf

    eta = first_crossing(result.yhat)
    if math.isinf(eta):
        return None
    early, late = (result.upper, result.lower) if rising else (result.lower, result.upper)
    slope = float(np.polyfit(result.ts[:24] - now, result.yhat[:24], 1)[0])
    return Exhaustion(now, eta, first_crossing(early), first_crossing(late), "prophet", slope)
