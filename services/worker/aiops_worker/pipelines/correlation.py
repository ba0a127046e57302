"""Lagged correlation and Granger causality between build series, for the root-cause analysis.

Granger: does the past of x improve the prediction of y beyond y's own past? An F-test of the OLS fit of
y[t] on y[t-1..t-p] (restricted) against the fit on y[t-1..t-p] and x[t-1..t-p] (unrestricted); the p-value
is that of the F statistic with (p, n - 2p - 1) degrees of freedom (the test statsmodels'
`grangercausalitytests` reports as `ssr_ftest`, written out here with numpy and scipy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from aiops_worker.pipelines.features import Build

MAX_LAG = 3
CAVEATS = ("builds are the time axis, not clock time (builds are unevenly spaced)",
           "Granger causality is predictive precedence, not proof of cause; a common driver (one commit changing "
           "both series) shows up as causality too",
           "the test assumes stationary series; a level shift inside the window weakens it")


def lagged_correlation(x: np.ndarray, y: np.ndarray, max_lag: int = MAX_LAG) -> tuple[int, float]:
    """The lag (x leading y by 0..max_lag builds) with the strongest Pearson correlation, and that correlation."""
    best = (0, 0.0)
    for lag in range(max_lag + 1):
        a, b = (x[:-lag], y[lag:]) if lag else (x, y)
        if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if abs(r) > abs(best[1]):
            best = (lag, r)
    return best


def granger(x: np.ndarray, y: np.ndarray, lag: int = MAX_LAG) -> tuple[float, float] | None:
    """(F statistic, p-value) of "x Granger-causes y" at `lag`; None when the series are too short or constant."""
    n = len(y) - lag
    if n <= 2 * lag + 2 or np.std(x) == 0 or np.std(y) == 0:
        return None
    target = y[lag:]
    own = np.column_stack([y[lag - k:len(y) - k] for k in range(1, lag + 1)])
    other = np.column_stack([x[lag - k:len(x) - k] for k in range(1, lag + 1)])
    ones = np.ones((n, 1))
    rss_r = _rss(np.hstack([ones, own]), target)
    rss_u = _rss(np.hstack([ones, own, other]), target)
    dof = n - 2 * lag - 1
    if rss_u <= 0:
        return None
    f = ((rss_r - rss_u) / lag) / (rss_u / dof)
    return float(f), float(stats.f.sf(f, lag, dof))


def _rss(design: np.ndarray, target: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    return float(residual @ residual)


def series_checks(builds: list[Build], values: np.ndarray, top: np.ndarray | None,
                  top_name: str | None) -> list[dict[str, Any]]:
    """Checks from the top cause's series, queue time and test count to the degraded series."""
    candidates: list[tuple[str, np.ndarray]] = []
    if top is not None and top_name:
        candidates.append((top_name, top))
    for feature in ("queue_s", "test_count"):
        candidates.append((feature, np.array([float(b.features.get(feature) or 0.0) for b in builds])))
    checks = []
    for name, series in candidates:
        lag, r = lagged_correlation(series, values)
        test = granger(series, values)
        checks.append({"from": name, "best_lag_builds": lag, "correlation": round(r, 3),
                       "granger_f": None if test is None else round(test[0], 3),
                       "granger_p": None if test is None else test[1], "lags": MAX_LAG, "caveats": list(CAVEATS)})
    return checks
