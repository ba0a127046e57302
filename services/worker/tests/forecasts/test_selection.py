"""Model choice per series by rolling-origin backtest, and its cache."""

import numpy as np

from aiops_worker.forecasts.forecasting import ForecastConfig, ModelChoices, to_grid
from aiops_worker.forecasts.models import MODELS, Grid
from aiops_worker.forecasts.selection import SelectionConfig, select

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


def test_a_grid_whose_backtests_all_overflow_gets_the_fallback_model():
    """1e308 in the history: every candidate's backtest error is inf or NaN, so none is within one standard
    error of the best; the choice is the configured fallback, never StopIteration (which, raised in
    asyncio.to_thread, left the forecast task waiting forever)."""
    values = 50 + 0.1 * np.arange(72)
    values[40] = 1e308
    with np.errstate(all="ignore"):  # overflow is the point here
        selection = select(Grid(T0, HOUR, values, 24), 24, CONFIG.selection)
    assert selection.model == SelectionConfig().fallback


def test_values_that_would_overflow_the_models_are_left_out_of_the_grid():
    values = 50 + 0.1 * np.arange(72)
    values[[10, 40]] = (1e308, -1e200)
    values[20] = np.inf
    grid = _grid(values)
    assert grid is not None and np.isfinite(grid.ys).all() and np.abs(grid.ys).max() < 100
    selection = select(grid, 24, CONFIG.selection)
    assert selection.model in MODELS and all(np.isfinite(list(selection.scores.values())))
