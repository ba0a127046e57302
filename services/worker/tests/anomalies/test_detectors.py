import numpy as np
from sklearn.ensemble import IsolationForest

from aiops_worker.anomalies import codec
from aiops_worker.anomalies.detectors import DetectorBank, DetectorConfig, SeriesDetector
from aiops_worker.anomalies.learned import CompactForest, LearnedTier

STEP = 300.0  # 5-minute samples
T0 = 1_700_000_000.0


def daily_series(n: int, seed: int = 0, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, noise, n)


def run(values: np.ndarray, detector: SeriesDetector | None = None) -> list:
    detector = detector or SeriesDetector()
    return [detector.update(T0 + STEP * i, float(v)) for i, v in enumerate(values)]


def opened(results: list) -> list[int]:
    return [i for i, r in enumerate(results) if r.alert_transition == "opened"]


def test_clean_series_raises_no_alert_after_a_day_of_history():
    # The first cycle is new to the detector (it has not yet seen the trough): warm-up.
    results = run(daily_series(1500))
    assert [i for i in opened(results) if i >= 288] == []
    assert all(0.0 <= r.score <= 1.0 for r in results)


def test_spike_is_detected_at_once_with_high_severity():
    values = daily_series(1500)
    values[1200] += 15.0
    results = run(values)
    assert [i for i in opened(results) if i >= 288] == [1200]
    hit = results[1200]
    assert hit.severity == "high"
    # Against a 24 h baseline the daily swing hides the spike; the seasonal residual does not.
    assert {"spike", "seasonal"} <= set(hit.evidence["fired"])
    assert hit.evidence["seasonal_z"] > 5


def test_level_shift_opens_one_alert_quickly_and_closes_later():
    values = daily_series(1800)
    values[1200:1500] += 6.0
    results = run(values)
    alerts = [i for i in opened(results) if i >= 288]
    assert len(alerts) == 1 and 1200 <= alerts[0] <= 1210
    closed = [i for i, r in enumerate(results) if r.alert_transition == "closed" and i > alerts[0]]
    assert closed
    assert results[closed[0]].event.end_ts == T0 + STEP * closed[0]


def test_refractory_period_zeroes_the_emitted_score():
    values = daily_series(1500)
    values[1200:1260] += 30.0
    results = run(values)
    assert results[1200].score > 0.6
    refractory = DetectorConfig().refractory_points
    assert max(r.score for r in results[1201:1200 + refractory]) == 0.0
    assert max(r.evidence["raw_score"] for r in results[1201:1260]) > 0.6


def test_scores_are_causal():
    values = daily_series(1400)
    values[1300] += 20
    full = [r.score for r in run(values)]
    prefix = [r.score for r in run(values[:1250])]
    assert full[:1250] == prefix


def test_state_round_trip_through_bytes_continues_identically():
    values = daily_series(1300)
    values[1250] += 12
    first = SeriesDetector()
    run(values[:900], first)
    restored = SeriesDetector.from_state(codec.decode(codec.encode(first.to_state())))
    assert restored.learned.model is not None  # the forest survived the restart
    for i in range(900, 1300):
        a = first.update(T0 + STEP * i, float(values[i]))
        b = restored.update(T0 + STEP * i, float(values[i]))
        assert a.score == b.score and a.alert_transition == b.alert_transition
        assert a.evidence == b.evidence  # learned score included: the forest scores identically


def test_non_finite_values_are_skipped():
    detector = SeriesDetector()
    run(daily_series(200), detector)
    result = detector.update(T0 + STEP * 200, float("nan"))
    assert result.score == 0.0 and "skipped" in result.evidence


def test_bank_keys_series_and_evicts_least_recent():
    bank = DetectorBank(DetectorConfig(), max_series=3)
    for sid in ("a", "b", "c", "a", "d"):
        bank.update(sid, T0, 1.0)
    assert len(bank) == 3 and "b" not in bank and "a" in bank
    restored = DetectorBank.from_state(bank.to_state())
    assert len(restored) == 3


def test_compact_forest_matches_sklearn():
    rng = np.random.default_rng(1)
    model = IsolationForest(n_estimators=20, max_samples=64, contamination=0.1, random_state=0)
    model.fit(rng.normal(size=(200, 8)))
    forest = CompactForest.from_model(model)
    probe = rng.normal(size=(30, 8)) * 3
    expected = model.decision_function(probe)
    assert np.allclose([forest.decision(x) for x in probe], expected, atol=1e-12)


def test_learned_tier_fits_after_min_samples_and_flags_odd_shapes():
    tier = LearnedTier()
    rng = np.random.default_rng(2)
    for _ in range(99):
        tier.observe(rng.normal(size=8))
    assert tier.model is None
    tier.observe(rng.normal(size=8))
    assert tier.model is not None
    assert tier.score(np.full(8, 15.0)) > tier.score(np.zeros(8))


def test_missing_daily_rise_is_caught_by_the_seasonal_tier():
    t = np.arange(2600)
    values = np.where((t % 288) < 144, 20.0, 80.0) + np.random.default_rng(3).normal(0, 1, len(t))
    day = 2304 // 288 * 288 + 144  # the rise that should happen on day 8
    values[day:day + 144] = 20.0 + np.random.default_rng(4).normal(0, 1, 144)
    results = run(values)
    alerts = [i for i in opened(results) if i >= 288]
    assert alerts and day <= alerts[0] <= day + 10
    assert "seasonal" in results[alerts[0]].evidence["fired"]


def test_alert_fatigue_raises_the_bar_for_repeated_alerts_and_fades():
    values = daily_series(2400)
    for start in (1200, 1240):  # the same spike twice, just past the refractory pause
        values[start] += 8.0
    with_fatigue = run(values)
    without = run(values, SeriesDetector(DetectorConfig(fatigue_step=0.0)))
    assert with_fatigue[1200].alert_transition == "opened"
    # The first alert raised the bar: the identical second spike scores lower than without fatigue.
    assert with_fatigue[1241].evidence["fatigue"] > 1.05
    assert with_fatigue[1240].evidence["statistical_score"] < without[1240].evidence["statistical_score"] - 0.01
    # ... and the bar comes back down on a quiet series (time constant `fatigue_points`).
    assert with_fatigue[-1].evidence["fatigue"] < 1.0 + 0.2 * DetectorConfig().fatigue_step
    assert all(0.0 <= r.score <= 1.0 for r in with_fatigue)


def test_fatigue_and_the_open_alert_survive_a_restart():
    values = daily_series(1300)
    values[1200] += 15
    first = SeriesDetector()
    run(values[:1210], first)
    assert first.alert.fatigue > 0.9
    restored = SeriesDetector.from_state(codec.decode(codec.encode(first.to_state())))
    assert restored.alert == first.alert
