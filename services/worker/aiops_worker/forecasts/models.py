"""The candidate forecasters, on a regular grid of buckets (hourly means, gaps interpolated).

Each one fits the history and returns, for the next `steps` buckets, a point forecast and a central
prediction interval of probability `level`. The intervals come from each model's own h-step error
variance, scaled by the quantile of its standardised one-step residuals (so heavy tails widen them):
- `naive`: the last value; a random walk's error, growing with sqrt(h).
- `seasonal_naive`: the same bucket one season (a day) ago; error grows with sqrt(seasons ahead).
- `trend`: Theil–Sen line plus a daily profile (median residual per hour of day) with AR(1) errors;
  the variance adds the line's own uncertainty, inflated for the residuals' autocorrelation.
- `ets`: additive damped-trend Holt–Winters, ETS(A,Ad,A) (ETS(A,Ad,N) on less than two seasons),
  smoothing parameters chosen on a small grid by one-step squared error; Hyndman's h-step variance.
- `prophet`: Prophet with daily (and, from two weeks, weekly) seasonality and its own intervals.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy.stats import norm, theilslopes

MODELS = ("naive", "seasonal_naive", "trend", "ets", "prophet")


@dataclass(frozen=True)
class Prediction:
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Grid:
    """History on a regular grid: `ys[i]` is the bucket starting `start + i * step` seconds."""
    start: float
    step: float
    ys: np.ndarray
    season: int  # buckets per day

    @property
    def ts(self) -> np.ndarray:
        return self.start + self.step * np.arange(len(self.ys))

    def head(self, n: int) -> Grid:
        return Grid(self.start, self.step, self.ys[:n], self.season)


def min_points(model: str, season: int) -> int:
    """History a model needs before it can forecast."""
    return 2 * season if model in ("seasonal_naive", "prophet") else 2


def predict(model: str, grid: Grid, steps: int, level: float, samples: int = 0) -> Prediction:
    """`samples`: Prophet's uncertainty samples; 0 gives its point forecast only (lower = upper = yhat)."""
    if model == "prophet":
        return _prophet(grid, steps, level, samples)
    yhat, sigma, residuals = FITTERS[model](grid, steps)
    half = _multiplier(residuals, level) * sigma
    return Prediction(yhat, yhat - half, yhat + half)


def _multiplier(residuals: np.ndarray, level: float) -> float:
    """The Gaussian quantile, or the standardised residuals' own when their tails are heavier."""
    z = float(norm.ppf((1 + level) / 2))
    scale = np.sqrt(np.mean(residuals ** 2)) if len(residuals) else 0.0
    if len(residuals) < 20 or scale == 0:
        return z
    return max(z, float(np.quantile(np.abs(residuals) / scale, level)))


def _rms(residuals: np.ndarray) -> float:
    return float(np.sqrt(np.mean(residuals ** 2))) if len(residuals) else 0.0


# A method's forecast: the mean per step, its standard deviation per step, and the in-sample residuals.
Components = tuple[np.ndarray, np.ndarray, np.ndarray]


def _naive(grid: Grid, steps: int) -> Components:
    residuals = np.diff(grid.ys)
    h = np.arange(1, steps + 1)
    return np.full(steps, grid.ys[-1]), _rms(residuals) * np.sqrt(h), residuals


def _seasonal_naive(grid: Grid, steps: int) -> Components:
    m, ys = grid.season, grid.ys
    residuals = ys[m:] - ys[:-m]
    h = np.arange(1, steps + 1)
    yhat = ys[len(ys) - m + (h - 1) % m]
    return yhat, _rms(residuals) * np.sqrt(np.ceil(h / m)), residuals


def _trend(grid: Grid, steps: int) -> Components:
    """Theil–Sen line + daily profile; AR(1) residuals pull the first steps towards the last value."""
    ys, m = grid.ys, grid.season
    n = len(ys)
    t = np.arange(n, dtype=float)
    slope, intercept, _, _ = theilslopes(ys, t)
    profile = np.zeros(m)
    if n >= 2 * m:  # the line again on the deseasonalised series, so the season does not tilt it
        profile = _profile(ys - (intercept + slope * t), m)
        slope, intercept, _, _ = theilslopes(ys - profile[np.arange(n) % m], t)
    residuals = ys - (intercept + slope * t) - profile[np.arange(n) % m]
    rho = float(np.clip(np.corrcoef(residuals[1:], residuals[:-1])[0, 1], 0.0, 0.99)) if n > 3 and residuals.std() > 0 else 0.0
    h = np.arange(1, steps + 1)
    future = n - 1 + h
    yhat = intercept + slope * future + profile[future % m] + residuals[-1] * rho ** h
    var_r = float(np.mean(residuals ** 2))
    inflation = (1 + rho) / (1 - rho)  # AR(1) errors: fewer independent points than buckets
    var_line = var_r * inflation * (1 / n + (future - t.mean()) ** 2 / np.sum((t - t.mean()) ** 2))
    innovations = residuals[1:] - rho * residuals[:-1]
    return yhat, np.sqrt(var_r * (1 - rho ** (2 * h)) + var_line), innovations


def _profile(detrended: np.ndarray, m: int) -> np.ndarray:
    phase = np.arange(len(detrended)) % m
    profile = np.array([np.median(detrended[phase == k]) for k in range(m)])
    return profile - np.median(profile)


ALPHAS = (0.05, 0.2, 0.4, 0.6, 0.8, 1.0)
BETAS = (0.0, 0.02, 0.1)  # a share of alpha
PHIS = (0.9, 0.98, 1.0)
GAMMAS = (0.0, 0.05, 0.2)


def _ets(grid: Grid, steps: int) -> Components:
    """ETS(A,Ad,A) in error-correction form, all grid parameters run at once (vectors)."""
    ys, m = grid.ys, grid.season
    seasonal = len(ys) >= 2 * m
    grid_params = np.array(list(product(ALPHAS, BETAS, PHIS, GAMMAS if seasonal else (0.0,))))
    alpha, beta, phi, gamma = grid_params.T
    beta = beta * alpha
    level, trend, season = _ets_init(ys, m, seasonal, len(alpha))
    sse = np.zeros(len(alpha))
    errors = np.zeros((len(ys), len(alpha)))
    for i, y in enumerate(ys):
        k = i % m
        error = y - (level + phi * trend + season[:, k])
        errors[i] = error
        if i >= m:  # the first season initialises the state: not scored
            sse += error ** 2
        level = level + phi * trend + alpha * error
        trend = phi * trend + beta * error
        season[:, k] += gamma * error
    best = int(np.argmin(sse))
    a, b, p, g = alpha[best], beta[best], phi[best], gamma[best]
    h = np.arange(1, steps + 1)
    damped = np.cumsum(p ** h)  # phi + phi^2 + ... + phi^h
    yhat = level[best] + damped * trend[best] + season[best, (len(ys) + h - 1) % m]
    c = a + b * damped[:-1] + g * (h[:-1] % m == 0)
    residuals = errors[m:, best] if len(ys) > m else errors[:, best]
    var = _rms(residuals) ** 2 * (1 + np.concatenate([[0.0], np.cumsum(c ** 2)]))
    return yhat, np.sqrt(var), residuals


def _ets_init(ys: np.ndarray, m: int, seasonal: bool, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    first = ys[:m]
    if seasonal:
        level = float(first.mean())
        trend = float(ys[m:2 * m].mean() - level) / m
        season = np.tile(first - level, (size, 1))
    else:
        level, trend = float(ys[0]), 0.0
        season = np.zeros((size, m))
    return np.full(size, level), np.full(size, trend), season


def _prophet(grid: Grid, steps: int, level: float, samples: int) -> Prediction:
    import pandas as pd
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)  # one line per fit otherwise
    weekly = len(grid.ys) * grid.step >= 14 * 86_400
    model = Prophet(daily_seasonality=True, weekly_seasonality=weekly, yearly_seasonality=False,
                    interval_width=level, uncertainty_samples=samples)
    model.fit(pd.DataFrame({"ds": pd.to_datetime(grid.ts, unit="s"), "y": grid.ys}))
    future = grid.ts[-1] + grid.step * np.arange(1, steps + 1)
    predicted = model.predict(pd.DataFrame({"ds": pd.to_datetime(future, unit="s")}))
    yhat = predicted["yhat"].to_numpy()
    if not samples:
        return Prediction(yhat, yhat, yhat)
    return Prediction(yhat, predicted["yhat_lower"].to_numpy(), predicted["yhat_upper"].to_numpy())


FITTERS = {"naive": _naive, "seasonal_naive": _seasonal_naive, "trend": _trend, "ets": _ets}
