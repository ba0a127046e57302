"""Which forecaster suits a series: a rolling-origin backtest on its own history.

From a few origins near the end of the history, each candidate model forecasts the buckets that follow
(as far ahead as it will be asked to, within a quarter of the history) from the buckets before; the
model with the lowest mean sMAPE over those held-back buckets wins, except that a model listed earlier in
`PREFERENCE` within one standard error of it is preferred (the usual one-standard-error rule of
cross-validation, with the standard error of the per-origin difference). Seasonal naive comes first: it is
the baseline a forecast must beat, so the forecast falls back to it whenever the others do not backtest
clearly better; naive, blind to both season and trend, comes last. (Listing naive first, as the simplest,
chose it over better models on noisy seasonal series: NAB realTraffic median sMAPE 20.25 against seasonal
naive's 19.59, now 17.23. The plain lowest mean, with no preference, also beat every baseline there but
put the generated exhaustions' median time-to-exhaustion error up from 12 % to 18 % of the time left;
scripts/bench/forecast_backtest.py.) Prophet, which costs about a second a fit, is a candidate only on
daily-seasonal series with enough history.

The same backtest calibrates the chosen model's interval (split conformal): its bands are scaled so that
they would have held the interval's share of the backtest errors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aiops_worker.forecasts.models import Grid, Prediction, min_points, predict

DAY_S = 86_400.0
PREFERENCE = ("seasonal_naive", "trend", "ets", "prophet", "naive")  # the one-standard-error rule's order


@dataclass(frozen=True)
class SelectionConfig:
    origins: int = 6  # rolling origins, half a backtest horizon apart
    prophet_min_days: float = 3.0  # history needed before Prophet is a candidate
    seasonal_min_corr: float = 0.5  # daily autocorrelation that makes a series seasonal (Prophet gate)
    fallback: str = "trend"  # when the history is too short to backtest


@dataclass(frozen=True)
class Selection:
    model: str
    scores: dict[str, float]  # mean sMAPE (%) of each candidate on the held-back buckets
    scale: float = 1.0  # the chosen model's interval, calibrated: bands around the forecast times this


def smape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Symmetric MAPE in percent; buckets where both are zero are left out."""
    denom = np.abs(actual) + np.abs(predicted)
    ok = denom > 0
    return float(np.mean(2 * np.abs(actual - predicted)[ok] / denom[ok])) * 100 if ok.any() else 0.0


def is_daily_seasonal(grid: Grid, min_corr: float) -> bool:
    m, ys = grid.season, grid.ys
    if len(ys) < 3 * m:
        return False
    t = np.arange(len(ys))
    detrended = ys - np.polyval(np.polyfit(t, ys, 1), t)
    a, b = detrended[m:], detrended[:-m]
    if a.std() == 0 or b.std() == 0:
        return False
    return float(np.corrcoef(a, b)[0, 1]) >= min_corr


def candidates(grid: Grid, config: SelectionConfig) -> list[str]:
    prophet = len(grid.ys) * grid.step >= config.prophet_min_days * DAY_S and is_daily_seasonal(
        grid, config.seasonal_min_corr)
    return [m for m in PREFERENCE if m != "prophet" or prophet]


def origins(n: int, horizon: int, config: SelectionConfig) -> tuple[int, list[int]]:
    """The backtest horizon (at most a quarter of the history) and its origins, latest first."""
    span = max(1, min(horizon, n // 4))
    spacing = max(1, span // 2)
    return span, [n - span - i * spacing for i in range(config.origins) if n - span - i * spacing > 0]


def _plan(grid: Grid, horizon: int, config: SelectionConfig) -> tuple[int, list[int], list[str]]:
    """The backtest horizon, the origins and the candidates: every candidate starts from every origin
    (like with like); when fewer than two origins leave enough history for the seasonal candidates,
    those are left out."""
    span, starts = origins(len(grid.ys), horizon, config)
    models = candidates(grid, config)
    usable = [o for o in starts if o >= max(min_points(m, grid.season) for m in models)]
    if len(usable) >= 2:
        return span, usable, models
    return span, [o for o in starts if o >= 2], [m for m in models if min_points(m, grid.season) <= 2]


def select(grid: Grid, horizon: int, config: SelectionConfig | None = None, *, level: float = 0.95,
           samples: int = 0) -> Selection:
    """The model to forecast `horizon` buckets of this series with: the first candidate (in `PREFERENCE`)
    whose mean backtest sMAPE is within one standard error (of its per-origin difference) of the best
    one's; and the factor that calibrates its `level` interval on the same backtest (`samples`: Prophet's)."""
    cfg = config or SelectionConfig()
    span, starts, models = _plan(grid, horizon, cfg)
    if not starts:
        return Selection(cfg.fallback, {})
    runs = {model: _backtest(model, grid, (span, starts), level, samples) for model in models}
    scores = {model: float(run.smapes.mean()) for model, run in runs.items()}
    scored = [model for model in runs if math.isfinite(scores[model])]
    if not scored:  # every backtest overflowed (values near the float limit): nothing to compare
        return Selection(cfg.fallback, scores)
    lowest = min(scored, key=scores.__getitem__)
    best = runs[lowest].smapes
    chosen = next((model for model in scored if _within_one_se(runs[model].smapes - best)), lowest)
    return Selection(chosen, scores, runs[chosen].scale)


@dataclass(frozen=True)
class _Backtest:
    smapes: np.ndarray  # per origin
    scale: float


def _backtest(model: str, grid: Grid, plan: tuple[int, list[int]], level: float, samples: int) -> _Backtest:
    span, starts = plan
    smapes, ratios = [], []
    for origin in starts:
        actual = grid.ys[origin:origin + span]
        predicted = predict(model, grid.head(origin), span, level, samples)
        smapes.append(smape(actual, predicted.yhat))
        ratios.append(_band_ratios(actual, predicted))
    return _Backtest(np.array(smapes), _calibration(np.concatenate(ratios), level))


def _band_ratios(actual: np.ndarray, predicted: Prediction) -> np.ndarray:
    """Each error over the half-width of the band on its side (inf past a zero-width band)."""
    error = actual - predicted.yhat
    width = np.where(error >= 0, predicted.upper - predicted.yhat, predicted.yhat - predicted.lower)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(error == 0, 0.0, np.abs(error) / width)


def _calibration(ratios: np.ndarray, level: float) -> float:
    """The factor that makes the band hold `level` of the backtest errors (split conformal); 1 when the
    errors say nothing (all zero) or bands were of zero width."""
    factor = float(np.quantile(ratios, level, method="higher"))
    return factor if math.isfinite(factor) and factor > 0 else 1.0


def _within_one_se(diff: np.ndarray) -> bool:
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    return bool(diff.mean() <= se + 1e-9)
