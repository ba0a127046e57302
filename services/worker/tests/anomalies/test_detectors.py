import math

import numpy as np

from aiops_worker.anomalies import codec
from aiops_worker.anomalies.alerts import is_alertable
from aiops_worker.anomalies.combined import TailReference
from aiops_worker.anomalies.detectors import AnomalyEvent, DetectorBank, DetectorConfig, SeriesDetector
from aiops_worker.anomalies.statistical import DAY_S, WEEK_S

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
    for i in range(900, 1300):
        a = first.update(T0 + STEP * i, float(values[i]))
        b = restored.update(T0 + STEP * i, float(values[i]))
        assert a.score == b.score and a.alert_transition == b.alert_transition
        assert a.evidence == b.evidence


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


def test_missing_daily_rise_is_caught_by_the_seasonal_tier():
    t = np.arange(2600)
    values = np.where((t % 288) < 144, 20.0, 80.0) + np.random.default_rng(3).normal(0, 1, len(t))
    day = 2304 // 288 * 288 + 144  # the rise that should happen on day 8
    values[day:day + 144] = 20.0 + np.random.default_rng(4).normal(0, 1, 144)
    results = run(values)
    alerts = [i for i in opened(results) if i >= 288]
    assert alerts and day <= alerts[0] <= day + 10
    assert "seasonal" in results[alerts[0]].evidence["fired"]


def test_a_week_is_the_season_only_when_it_explains_clearly_more_than_a_day():
    """Hourly points: weekends at 60 % of the weekdays' level make the week the season; a purely daily
    series, as correlated at a week as at a day, keeps the day at every check."""
    hours = np.arange(1200)
    noise = np.random.default_rng(5).normal(0, 1, len(hours))
    daily = 50 + 10 * np.sin(2 * np.pi * hours / 24) + noise
    weekly = np.where((hours // 24) % 7 < 5, 1.0, 0.6) * (daily - noise) + noise
    periods = {}
    for name, values in (("daily", daily), ("weekly", weekly)):
        detector, periods[name] = SeriesDetector(), set()
        for i, value in enumerate(values):
            periods[name].add(detector.update(T0 + 3600.0 * i, float(value)).evidence.get("period_s"))
    assert periods["daily"] <= {None, DAY_S}
    assert detector.stat.period_s == WEEK_S


def test_tail_probability_is_calibrated_on_exponential_tails():
    # A |z|-like channel with a known law: P(X > x) = exp(-x) per point.
    tail = TailReference(channels=1, block=16, blocks=188, rank=2)
    for x in np.random.default_rng(6).exponential(1.0, 3000):
        tail.add(np.array([x]))
    for x in (4.0, 8.0, 12.0):  # inside, at the edge of and far beyond the 3,000 points seen
        assert abs(tail.log10_tail(np.array([x]))[0] - (-x / math.log(10))) < 0.6


def flat_series(n: int, seed: int = 0) -> np.ndarray:
    return 50 + np.random.default_rng(seed).normal(0, 1, n)


def test_a_blip_stays_evidence_and_an_improbable_point_alerts():
    values = flat_series(3000)
    values[2000] += 3.8  # about 1 in 7,000 points of Gaussian noise: a blip
    values[2500] += 9.0  # about 1 in 10**18: an anomaly
    results = run(values)
    blip, spike = results[2000], results[2500]
    assert blip.evidence["tail_log10_p"] > -5.0 and not is_alertable(_event(blip), 3.0, -5.0)
    assert spike.alert_transition == "opened" and is_alertable(spike.event, 3.0, -5.0)


def test_one_past_incident_does_not_blind_the_tail_probability():
    values = flat_series(3000)
    values[1000:1030] += 60.0  # a large incident enters the block maxima
    values[2500] += 9.0  # the incident's two blocks lift the score's reference, not the fitted law
    assert run(values)[2500].evidence["tail_log10_p"] <= -5.0


def _event(result) -> AnomalyEvent:
    return AnomalyEvent(0.0, None, result.score, "low", result.evidence)


def test_alert_fatigue_raises_the_bar_for_repeated_alerts_and_fades():
    values = daily_series(2400)
    for start in (1200, 1240):  # the same spike twice, just past the refractory pause
        values[start] += 8.0
    with_fatigue = run(values)
    without = run(values, SeriesDetector(DetectorConfig(fatigue_step=0.0)))
    assert with_fatigue[1200].alert_transition == "opened"
    # The first alert raised the bar: the identical second spike scores lower than without fatigue.
    assert with_fatigue[1241].evidence["fatigue"] > 1.05
    assert with_fatigue[1240].evidence["raw_score"] < without[1240].evidence["raw_score"] - 0.01
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


def test_a_new_level_far_beyond_the_history_alerts_though_a_wave_widens_the_scale():
    i = np.arange(600)
    values = 50 + 5 * np.sin(2 * np.pi * i / 300) + np.random.default_rng(2).uniform(-1, 1, 600)
    values[500:] += 25  # the daily-span baseline scale hides it from the z channels' tail ...
    hit = run(values)[500]
    assert hit.alert_transition == "opened" and hit.evidence["tail_log10_p"] > -5.0
    assert hit.evidence["range_excess"] >= 1.0 and is_alertable(hit.event, 3.0, -5.0)  # ... not from the range
