"""One causal anomaly score per point from the statistical features, with hysteresis into alert events.

How the score is built:
1. Tier 1 turns the point into surprise channels (|z|, seasonal |z|, burst, level shifts).
2. Each channel is divided by a high quantile of its *own* recent history (`TailReference`):
   a ratio above 1 means "more surprising than nearly anything this series did lately". This is
   what makes one threshold work for calm and for spiky series alike. A channel is judged only
   once its own reference has `tail_warmup` points (the seasonal one starts late).
3. The strongest ratio (optionally lifted when a second channel agrees) is squashed into [0, 1];
   a value beyond the range of the whole history scores at least `range_score`.
4. Alert fatigue: every alert (a point whose emitted score reaches `open_threshold`) raises the
   bar for the next one: the ratio is divided by 1 + `fatigue_step` x (alerts, each fading with
   time constant `fatigue_points`). A series that keeps alerting needs ever stronger evidence, a
   quiet one keeps its full sensitivity.
5. Alertability: the same block maxima give a calibrated tail probability per channel (a Gumbel
   law fitted to them); its log10, Bonferroni-corrected over the channels, is the evidence
   `tail_log10_p` on which the worker tells an improbable anomaly from a statistical blip.
   (An IsolationForest tier once scored window shapes; on the leave-one-category-out NAB run it
   only cost score, e.g. 74.2 -> 51.1 when it damped, so it was removed.)
6. Hysteresis: an alert opens at `open_threshold`; for `refractory_points` afterwards the emitted
   score is 0 so a long anomaly gives one alert (the raw score stays in the evidence); it closes
   after `close_points` consecutive points below `close_threshold`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .statistical import CHANNEL_NAMES, StatFeatures, StatisticalConfig

Transition = Literal["opened", "closed"]
SEVERITY_Z = (("high", 5.0), ("medium", 4.0), ("low", 3.0))
# Gumbel law: interquartile range = 1.5725 beta, median = mu + 0.3665 beta.
GUMBEL_IQR = math.log(-math.log(0.25)) - math.log(-math.log(0.75))
GUMBEL_MEDIAN = -math.log(math.log(2.0))


@dataclass(frozen=True)
class DetectorConfig:
    statistical: StatisticalConfig = field(default_factory=StatisticalConfig)
    tail_block: int = 16  # TailReference: block size ...
    tail_blocks: int = 188  # ... and number of blocks (about 3,000 points of memory)
    # Second-largest block maximum (~ the 99.95 % quantile of 3,000 points): one odd block (a
    # one-off incident, a glitch) does not blind the channel, while an episode that filled two
    # blocks (32 points) already counts as behaviour this series has. The 4th largest used before
    # let a sustained new level re-alert for 64 points and, early on (few blocks), sat at a low
    # quantile. On NAB this alone removes ~40 % of the false alerts; the shorter refractory pause
    # below wins back the windows it then reached late.
    tail_rank: int = 2
    tail_warmup: int = 150  # channel values needed before scores are emitted
    # A channel below its floor never counts as novel, however calm the series has been
    # (order of statistical.CHANNEL_NAMES: z, seasonal, burst, shift_short, shift_long).
    # The seasonal floor is higher: its residual scale rests on only a few past cycles.
    channel_floors: tuple[float, ...] = (3.0, 4.0, 1.5, 1.0, 1.0)
    # NAB (scripts/bench/nab.py) scored best with the strongest channel alone: agreement bonuses
    # traded hits for fewer false positives badly.
    second_weight: float = 0.0  # bonus when a second channel agrees
    range_score: float = 0.7  # floor of the score of a value beyond the history's range
    open_threshold: float = 1.0 - math.exp(-1.04 ** 2)  # score at ratio 1.04
    close_threshold: float = 0.3
    close_points: int = 12
    # Extra detections soon after one only cost false positives; a long pause hides the next
    # anomaly. The pause only has to hide the immediate repeats of one anomaly: alert fatigue
    # (below) damps the later ones, so it is shorter than a typical anomaly's span.
    refractory_points: int = 30
    # Alert fatigue: each alert raises the ratio needed for the next by 10 %, fading with a time
    # constant of 300 points (about a day at 5-minute sampling). Series that alert again and again
    # (a noisy metric, a drifting level) mostly produced false alerts; an isolated anomaly on a
    # quiet series is judged at full sensitivity. Costs one float of state.
    fatigue_step: float = 0.1
    fatigue_points: float = 300.0


@dataclass(frozen=True)
class AnomalyEvent:
    start_ts: float
    end_ts: float | None  # None while open
    peak_score: float
    severity: str
    evidence: dict


@dataclass(frozen=True)
class DetectionResult:
    ts: float
    score: float  # in [0, 1]; 0 during the refractory period of an open alert
    severity: str | None  # set while an alert is open
    evidence: dict
    alert_transition: Transition | None = None
    event: AnomalyEvent | None = None  # the event opened or closed at this point


class TailReference:
    """Approximate rolling high quantile per channel: k-th largest of recent block maxima.

    Memory is `blocks` maxima per channel instead of thousands of raw values. A channel's
    reference is infinite (nothing is novel) until `warmup` values were added since the channel
    first moved from 0: a late-starting channel has no history to be compared with.
    """

    def __init__(self, channels: int, block: int, blocks: int, rank: int, warmup: int = 0) -> None:
        self.block, self.rank, self.warmup = block, rank, warmup
        self.maxima = np.zeros((blocks, channels))
        self.current = np.zeros(channels)
        self.active = np.zeros(channels, dtype=int)  # values added since the channel woke up
        self.filled = 0
        self.in_block = 0
        self.seen = 0

    def reference(self) -> np.ndarray:
        rows = self.rows()
        k = min(self.rank, len(rows))
        return np.where(self.active >= self.warmup, np.partition(rows, -k, axis=0)[-k], np.inf)

    def rows(self) -> np.ndarray:
        if self.in_block:
            return np.vstack((self.maxima[:self.filled], self.current))
        return self.maxima[:self.filled]

    def log10_tail(self, values: np.ndarray) -> np.ndarray:
        """log10 P(one point exceeds the value), per channel, from a Gumbel law fitted to the block
        maxima (robustly: median and interquartile range, so one past incident does not blind it).
        0 (certain) for a channel still warming up."""
        q25, median, q75 = np.percentile(self.rows(), (25, 50, 75), axis=0)
        beta = np.maximum((q75 - q25) / GUMBEL_IQR, 1e-3 * (np.abs(median) + 1.0))
        mu = median - GUMBEL_MEDIAN * beta
        excess = np.minimum(-(values - mu) / beta, 50.0)  # far below the law: probability 1
        # P(block max > x) = 1 - exp(-e^-(x-mu)/beta); one point carries 1/block of that hazard.
        per_point = -np.expm1(-np.exp(excess) / self.block)
        log_p = np.log10(np.clip(per_point, 1e-300, 1.0))
        return np.where(self.active >= self.warmup, log_p, 0.0)

    def add(self, values: np.ndarray) -> None:
        self.current = np.maximum(self.current, values) if self.in_block else values.copy()
        self.active += (self.active > 0) | (values != 0)
        self.in_block += 1
        self.seen += 1
        if self.in_block == self.block:
            self.maxima = np.roll(self.maxima, 1, axis=0)
            self.maxima[0] = self.current
            self.filled = min(self.filled + 1, len(self.maxima))
            self.in_block = 0

    def to_state(self) -> dict:
        return {"maxima": self.maxima[:self.filled].copy(), "current": self.current.copy(),
                "in_block": self.in_block, "seen": self.seen, "active": self.active.copy()}

    def load(self, state: dict) -> None:
        maxima = np.asarray(state["maxima"], dtype=float).reshape(-1, self.maxima.shape[1])
        self.filled = len(maxima)
        self.maxima[:self.filled] = maxima
        self.current = np.asarray(state["current"], dtype=float)
        self.in_block, self.seen = state["in_block"], state["seen"]
        self.active = np.asarray(state["active"], dtype=int)


@dataclass
class AlertState:
    open_since: float | None = None
    peak: float = 0.0
    max_z: float = 0.0
    evidence: dict = field(default_factory=dict)
    below: int = 0
    since_open: int = 1 << 30
    fatigue: float = 0.0  # recent alerts, each decaying by exp(-1 / fatigue_points) per point


def severity_for(z: float) -> str | None:
    for name, limit in SEVERITY_Z:
        if abs(z) > limit:
            return name
    return None


def squash(ratio: float) -> float:
    return 1.0 - math.exp(-ratio * ratio) if ratio > 0 else 0.0


def fired_detectors(f: StatFeatures, ratios: np.ndarray, cfg: StatisticalConfig) -> list[str]:
    fired = [f"novel_{name}" for name, r in zip(CHANNEL_NAMES, ratios) if r >= 1.0]
    if f.out_of_range:
        fired.append("out_of_range")
    if abs(f.z) > 3.0:
        fired.append("robust_z")
    if abs(f.seasonal_z) > 3.0:
        fired.append("seasonal")
    if f.spike > cfg.spike_ratio:
        fired.append("spike")
    if max(f.shifts) > 3.0:
        fired.append("level_shift")
    return fired
