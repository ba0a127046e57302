"""Tier 1: streaming robust statistics for one metric series.

Every update compares the new value with a rolling baseline made only of earlier points, so the
features are causal. Memory is bounded by `history_points` (fixed-size ring buffers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
Z_CLIP = 20.0  # one wild point must not dominate the multi-point means


@dataclass(frozen=True)
class StatisticalConfig:
    baseline_seconds: float = DAY_S  # rolling baseline span
    min_baseline_points: int = 96  # sparse (hourly) series still get a stable baseline
    history_points: int = 2304  # ring capacity: 8 days at 5-min sampling
    warmup_points: int = 30  # no features before this many points
    burst_points: int = 12  # mean |z| window: catches bursts and variance changes
    shift_points: tuple[int, int] = (24, 48)  # mean signed z windows: catch level shifts
    spike_ratio: float = 10.0  # |derivative| above this multiple of its mean is a spike
    seasonal_periods: tuple[float, ...] = (DAY_S, WEEK_S)
    seasonal_min_corr: float = 0.6  # autocorrelation at the period needed to call it seasonal
    seasonal_check_every: int = 144  # re-test seasonality every N points
    seasonal_cycles: int = 7  # past cycles forming the seasonal expectation
    seasonal_warmup: int = 288  # residuals needed before the seasonal z is trusted
    # A value beyond the whole history's range by this share of the range is new territory,
    # whatever its z (catches level changes on series whose baseline scale is wide).
    range_tolerance: float = 0.2


@dataclass(frozen=True)
class StatFeatures:
    """Deviation of one point from its baseline, in robust sigma units."""

    baseline: float
    scale: float
    z: float
    seasonal_z: float
    spike: float  # |derivative| / mean |derivative| over the baseline
    burst: float  # mean |z| over the last `burst_points`
    shifts: tuple[float, ...]  # |mean signed z| over each `shift_points` window
    period_s: float | None
    ready: bool
    out_of_range: bool = False  # beyond the range of `history_points` by `range_tolerance`
    range_excess: float = 0.0  # distance beyond that range, in units of the range

    def channels(self) -> tuple[float, ...]:
        """Non-negative surprise measures that the combiner normalises per series."""
        return (abs(self.z), abs(self.seasonal_z), self.burst, *self.shifts)


CHANNEL_NAMES = ("z", "seasonal", "burst", "shift_short", "shift_long")


class RingBuffer:
    """Fixed-capacity float buffer with chronological reads."""

    def __init__(self, capacity: int, values: np.ndarray | None = None) -> None:
        self.capacity = capacity
        self._buf = np.zeros(capacity)
        kept = np.empty(0) if values is None else np.asarray(values, dtype=float)[-capacity:]
        self._buf[:len(kept)] = kept  # as if appended one by one
        self._pos = len(kept) % capacity
        self.count = len(kept)

    def append(self, value: float) -> None:
        self._buf[self._pos] = value
        self._pos = (self._pos + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def last(self, n: int) -> np.ndarray:
        n = min(n, self.count)
        start = self._pos - n
        if start >= 0:
            return self._buf[start:self._pos]
        return np.concatenate((self._buf[start:], self._buf[:self._pos]))

    def latest(self) -> float:
        return float(self._buf[self._pos - 1])

    def to_array(self) -> np.ndarray:
        return self.last(self.count).copy()


def robust_center_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and a sigma estimate that never collapses to zero on near-constant data."""
    med = float(np.median(values))
    dev = np.abs(values - med)
    scale = MAD_TO_SIGMA * float(np.median(dev))
    if scale <= 0.0:
        # Mostly-constant series: fall back to the mean deviation so rare moves still count.
        scale = 1.2533 * float(dev.mean())
    return med, max(scale, 1e-9 * (abs(med) + 1.0))


class StatisticalTier:
    """Robust z-score, bursts, level shifts, spikes and seasonal residual for one series."""

    def __init__(self, config: StatisticalConfig | None = None) -> None:
        self.config = config or StatisticalConfig()
        cap = self.config.history_points
        self.values = RingBuffer(cap)
        self.times = RingBuffer(cap)
        self.zs = RingBuffer(max(self.config.shift_points + (self.config.burst_points,)))
        self.residuals = RingBuffer(cap // 2)
        self.period_s: float | None = None
        self.since_check = 0

    def update(self, ts: float, value: float) -> StatFeatures:
        features = self._features(ts, value)
        self.values.append(value)
        self.times.append(ts)
        self.since_check += 1
        if self.since_check >= self.config.seasonal_check_every:
            self.since_check = 0
            self._set_period(self._detect_period())
        return features

    def _baseline_window(self, ts: float) -> np.ndarray:
        times = self.times.last(self.times.count)
        start = int(np.searchsorted(times, ts - self.config.baseline_seconds))
        n = max(len(times) - start, self.config.min_baseline_points)
        return self.values.last(n)

    def _features(self, ts: float, value: float) -> StatFeatures:
        cfg = self.config
        if self.values.count < cfg.warmup_points:
            return StatFeatures(value, 0.0, 0.0, 0.0, 0.0, 0.0, (0.0,) * len(cfg.shift_points),
                                None, False)
        window = self._baseline_window(ts)
        med, scale = robust_center_scale(window)
        z = (value - med) / scale
        self.zs.append(max(-Z_CLIP, min(Z_CLIP, z)))
        burst = float(np.abs(self.zs.last(cfg.burst_points)).mean())
        shifts = tuple(abs(float(self.zs.last(n).mean())) for n in cfg.shift_points)
        mean_diff = float(np.abs(np.diff(window)).mean())
        jump = abs(value - self.values.latest())
        spike = jump / mean_diff if mean_diff > 0 else (0.0 if jump == 0 else cfg.spike_ratio)
        return StatFeatures(med, scale, z, self._seasonal_z(ts, value), spike, burst, shifts,
                            self.period_s, True, *self._out_of_range(value))

    def _out_of_range(self, value: float) -> tuple[bool, float]:
        history = self.values.last(self.values.count)
        low, high = float(history.min()), float(history.max())
        beyond = max(value - high, low - value, 0.0)
        excess = beyond / (high - low) if high > low else (math.inf if beyond > 0 else 0.0)
        return excess > self.config.range_tolerance, excess

    def _seasonal_z(self, ts: float, value: float) -> float:
        """Residual against the same phase of earlier cycles, scaled by past residuals."""
        if self.period_s is None:
            return 0.0
        times = self.times.last(self.times.count)
        targets = ts - self.period_s * np.arange(1, self.config.seasonal_cycles + 1)
        targets = targets[targets >= times[0]]
        if len(targets) == 0:
            return 0.0
        idx = np.clip(np.searchsorted(times, targets), 0, len(times) - 1)
        residual = value - float(np.median(self.values.last(self.values.count)[idx]))
        past = self.residuals.last(self.residuals.count)
        self.residuals.append(residual)
        if len(past) < self.config.seasonal_warmup:
            return 0.0
        _, scale = robust_center_scale(past)
        return residual / scale

    def _detect_period(self) -> float | None:
        """The shortest candidate period whose autocorrelation reaches `seasonal_min_corr`, or a longer one
        that leaves at most half as much variance unexplained (1 - autocorrelation). A weekly series is
        correlated at one day too, but against a daily expectation its weekends (and a weekday that looks
        like one, a holiday) are residuals as large as any anomaly's; a purely daily series is as
        correlated at a week as at a day, and keeps the day."""
        times = self.times.last(self.times.count)
        values = self.values.last(self.values.count)
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        if step <= 0:
            return None
        best, unexplained = None, 1.0 - self.config.seasonal_min_corr
        for period in self.config.seasonal_periods:
            lag = int(round(period / step))
            if lag < 2 or len(values) < 2 * lag:
                continue
            a, b = values[lag:], values[:-lag]
            corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
            if 1.0 - corr <= (unexplained if best is None else unexplained / 2):
                best, unexplained = period, 1.0 - corr
        return best

    def _set_period(self, period: float | None) -> None:
        if period != self.period_s:
            # Residuals against another period are not comparable: start their scale afresh.
            self.residuals = RingBuffer(self.residuals.capacity)
            self.period_s = period

    def to_state(self) -> dict:
        return {
            "values": self.values.to_array(),
            "times": self.times.to_array(),
            "zs": self.zs.to_array(),
            "residuals": self.residuals.to_array(),
            "period_s": self.period_s,
            "since_check": self.since_check,
        }

    @classmethod
    def from_state(cls, state: dict, config: StatisticalConfig | None = None) -> StatisticalTier:
        tier = cls(config)
        tier.values = RingBuffer(tier.values.capacity, state["values"])
        tier.times = RingBuffer(tier.times.capacity, state["times"])
        tier.zs = RingBuffer(tier.zs.capacity, state["zs"])
        tier.residuals = RingBuffer(tier.residuals.capacity, state["residuals"])
        tier.period_s = state["period_s"]
        tier.since_check = state["since_check"]
        return tier
