"""Model choice per series by rolling-origin backtest, and its cache."""

import numpy as np

from aiops_worker.forecasts.forecasting import ForecastConfig, ModelChoices, to_grid
from aiops_worker.forecasts.selection import select

HOUR = 3600.0
DAY = 86_400.0
T0 = 1_700_000_000.0
CONFIG = ForecastConfig()


def _grid(values: np.ndarray):
    return to_grid(T0 + HOUR * np.arange(len(values)), values, CONFIG)


def test_purely_seasonal_series_chooses_seasonal_naive():
    rng = np.random.default_rng(1)
    day = rng.uniform(10, 90, 24)  # any daily shape, repeated exactly
    selection = select(_grid(np.tile(day, 14)), 48, CONFIG.selection)
    assert selection.model == "seasonal_naive", selection.scores


def test_trending_series_chooses_a_trend_model():
    """Theil–Sen trend or ETS (damped or linear trend): on a line they score alike, either may win."""
    rng = np.random.default_rng(2)
    values = 20 + 0.1 * np.arange(14 * 24) + rng.normal(0, 0.5, 14 * 24)
    selection = select(_grid(values), 48, CONFIG.selection)
    assert selection.model in ("trend", "ets"), selection.scores
    assert selection.scores["trend"] < min(selection.scores["naive"], selection.scores["seasonal_naive"])


def test_short_history_leaves_seasonal_models_out():
    values = 50 + 0.2 * np.arange(30)  # 30 hours: no two-day origin for the seasonal models
    selection = select(_grid(values), 24, CONFIG.selection)
    assert "seasonal_naive" not in selection.scores and selection.model == "trend"


def test_choice_is_cached_until_it_expires():
    values = 20 + 0.1 * np.arange(10 * 24)
    choices = ModelChoices(ttl_s=DAY)
    first = choices.selection_for("disk", _grid(values), 48, now=T0)
    assert choices.selection_for("disk", _grid(values), 48, now=T0 + DAY - 1) is first
    assert choices.selection_for("disk", _grid(values), 48, now=T0 + DAY) is not first
    choices.keep_only({"other"})
    assert choices.chosen == {}
