import re

import numpy as np

from aiops_worker.forecasts.forecasting import forecast, predict_exhaustion

HOUR = 3600.0
DAY = 86_400.0
T0 = 1_700_000_000.0


def disk_usage(days: int, per_day: float, seed: int = 0, daily_amp: float = 0.0):
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(0, days * DAY, 600.0)  # 10-minute samples
    phase = 2 * np.pi * (ts - T0) / DAY
    values = 40 + per_day * (ts - T0) / DAY + daily_amp * np.sin(phase) + rng.normal(0, 0.5, len(ts))
    values[::97] += 15  # occasional spikes must not bend a robust trend
    return ts, values


def test_linear_growth_eta_within_five_percent_and_interval_covers_truth():
    ts, values = disk_usage(days=20, per_day=1.0)
    result = predict_exhaustion(ts, values, threshold=90.0)
    assert result is not None and result.method == "trend"
    true_eta = T0 + 50 * DAY  # 40 + 1 %/day reaches 90 on day 50
    remaining = true_eta - result.now
    assert abs(result.eta - true_eta) < 0.05 * remaining
    assert result.eta_low <= result.eta <= result.eta_high  # slope-uncertainty band
    assert abs(result.slope * DAY - 1.0) < 0.05
    assert re.fullmatch(r"full in (29|30)\.\d days \((29|30)\.\d-(29|30)\.\d\)", result.describe())


def test_falling_metric_reaches_lower_threshold():
    ts, values = disk_usage(days=10, per_day=-2.0)
    result = predict_exhaustion(ts, values, threshold=0.0)
    assert result is not None
    assert abs((result.eta - T0) / DAY - 20.0) < 1.0


def test_no_exhaustion_when_moving_away_or_too_short():
    ts, values = disk_usage(days=10, per_day=-1.0)
    assert predict_exhaustion(ts, values, threshold=90.0) is None
    assert predict_exhaustion(ts[:100], values[:100], threshold=90.0) is None  # < 24 hourly points


def test_seasonal_series_uses_prophet_and_finds_first_peak_crossing():
    ts, values = disk_usage(days=6, per_day=2.0, daily_amp=5.0)
    result = predict_exhaustion(ts, values, threshold=70.0)
    assert result is not None and result.method == "prophet"
    # Mean crosses 70 on day 15; the daily peak (+5) gets there about 2.5 days sooner.
    days = (result.eta - T0) / DAY
    assert 11.5 < days < 14.5
    assert result.eta_low <= result.eta <= result.eta_high


def test_trend_forecast_shape_and_band():
    ts, values = disk_usage(days=5, per_day=1.0)
    fc = forecast(ts, values, horizon=DAY, step=HOUR, method="trend")
    assert fc is not None and len(fc.ts) == 24 and fc.method == "trend"
    expected = 40 + (fc.ts - T0) / DAY
    assert np.max(np.abs(fc.yhat - expected)) < 0.5
    assert np.all(fc.lower <= fc.yhat) and np.all(fc.yhat <= fc.upper)
