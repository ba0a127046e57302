"""Streaming anomaly detection API: `SeriesDetector` for one series, `DetectorBank` for many.

    bank = DetectorBank(DetectorConfig())
    result = bank.update("host1/cpu", ts, value)   # DetectionResult
    if result.alert_transition == "opened": ...    # one alert per anomaly, see combined.py
    saved = bank.to_state(); bank = DetectorBank.from_state(saved)   # survives restarts (bytes: codec.py)
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict

import numpy as np

from .combined import (
    CHANNEL_NAMES,
    AlertState,
    AnomalyEvent,
    DetectionResult,
    DetectorConfig,
    TailReference,
    fired_detectors,
    severity_for,
    squash,
)
from .statistical import StatFeatures, StatisticalTier

__all__ = ["AnomalyEvent", "DetectionResult", "DetectorBank", "DetectorConfig", "SeriesDetector"]
STATE_VERSION = 2  # 2: no forest state


class SeriesDetector:
    """Causal detector for one metric series; feed points in time order."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.stat = StatisticalTier(self.config.statistical)
        cfg = self.config
        self.tail = TailReference(len(CHANNEL_NAMES), cfg.tail_block, cfg.tail_blocks, cfg.tail_rank,
                                  cfg.tail_warmup)
        self.alert = AlertState()
        self._floors = np.maximum(np.asarray(cfg.channel_floors, dtype=float), 1e-6)
        self._fatigue_decay = math.exp(-1.0 / cfg.fatigue_points) if cfg.fatigue_points > 0 else 0.0

    def update(self, ts: float, value: float) -> DetectionResult:
        if not math.isfinite(value):
            return DetectionResult(ts, 0.0, self._severity(), {"skipped": "non-finite value"})
        features = self.stat.update(ts, value)
        if not features.ready:
            return DetectionResult(ts, 0.0, None, {"warming_up": True})
        ratios, score, log10_p = self._statistical_score(features)
        evidence = self._evidence(value, features, ratios, score, log10_p)
        return self._alerting(ts, score, features, evidence)

    def _statistical_score(self, f: StatFeatures) -> tuple[np.ndarray, float, float | None]:
        """Ratios to the tail reference, the score, and the calibrated log10 tail probability of the
        most improbable channel (Bonferroni over channels; None while warming up)."""
        channels = np.asarray(f.channels())
        ready = self.tail.seen >= self.config.tail_warmup
        reference = self.tail.reference() if ready else None
        log_p = self.tail.log10_tail(channels) if ready else None
        self.tail.add(channels)
        if reference is None:
            return np.zeros_like(channels), 0.0, None
        ratios = channels / np.maximum(reference, self._floors)
        second, first = np.sort(ratios)[-2:]
        weight = self.config.second_weight
        score = squash((first + weight * second) / (1.0 + weight) / self._fatigue_divisor())
        if f.out_of_range:
            score = max(score, self.config.range_score)
        novel = np.where(channels >= self._floors, log_p, 0.0)
        return ratios, score, min(0.0, float(novel.min()) + math.log10(len(channels)))

    def _fatigue_divisor(self) -> float:
        return 1.0 + self.config.fatigue_step * self.alert.fatigue

    def _evidence(self, value: float, f: StatFeatures, ratios: np.ndarray, score: float,
                  log10_p: float | None) -> dict:
        return {
            "value": value,
            "baseline": f.baseline,
            "scale": f.scale,
            "deviation": value - f.baseline,
            "z": f.z,
            "seasonal_z": f.seasonal_z,
            "period_s": f.period_s,
            "spike_ratio": f.spike,
            "range_excess": f.range_excess,
            "ratios": {name: float(r) for name, r in zip(CHANNEL_NAMES, ratios)},
            "fatigue": self._fatigue_divisor(),  # the strongest ratio was divided by this
            "raw_score": score,  # before the refractory pause
            "tail_log10_p": log10_p,
            "fired": fired_detectors(f, ratios, self.config.statistical),
        }

    def _alerting(self, ts: float, raw: float, f: StatFeatures, evidence: dict) -> DetectionResult:
        cfg, alert = self.config, self.alert
        alert.since_open += 1
        alert.fatigue *= self._fatigue_decay
        emitted = 0.0 if alert.since_open < cfg.refractory_points else raw
        transition, event = None, None
        if emitted >= cfg.open_threshold:
            alert.since_open = 0
            alert.fatigue += 1.0
            if alert.open_since is None:
                self.alert = alert = AlertState(open_since=ts, evidence=evidence, since_open=0,
                                                fatigue=alert.fatigue)
                transition = "opened"
        if alert.open_since is not None:
            alert.peak = max(alert.peak, raw)
            alert.max_z = max(alert.max_z, abs(f.z), abs(f.seasonal_z))
            alert.below = alert.below + 1 if raw < cfg.close_threshold else 0
            event = self._event(None) if transition else None
            if alert.below >= cfg.close_points:
                transition, event = "closed", self._event(ts)
                alert.open_since = None
        severity = event.severity if event else self._severity()
        return DetectionResult(ts, emitted, severity, evidence, transition, event)

    def _event(self, end_ts: float | None) -> AnomalyEvent:
        alert = self.alert
        return AnomalyEvent(alert.open_since, end_ts, alert.peak, self._severity() or "low",
                            alert.evidence)

    def _severity(self) -> str | None:
        if self.alert.open_since is None:
            return None
        return severity_for(self.alert.max_z) or "low"

    def to_state(self) -> dict:
        """Plain values and numpy arrays (`codec.encode` turns it into bytes)."""
        return {
            "version": STATE_VERSION,
            "statistical": self.stat.to_state(),
            "tail": self.tail.to_state(),
            "alert": asdict(self.alert),
        }

    @classmethod
    def from_state(cls, state: dict, config: DetectorConfig | None = None) -> SeriesDetector:
        detector = cls(config)
        cfg = detector.config
        detector.stat = StatisticalTier.from_state(state["statistical"], cfg.statistical)
        detector.tail.load(state["tail"])
        detector.alert = AlertState(**state["alert"])
        return detector


class DetectorBank:
    """Detectors keyed by series id; optional LRU cap on the number of live series."""

    def __init__(self, config: DetectorConfig | None = None, max_series: int | None = None) -> None:
        self.config = config or DetectorConfig()
        self.max_series = max_series
        self._detectors: OrderedDict[str, SeriesDetector] = OrderedDict()

    def __len__(self) -> int:
        return len(self._detectors)

    def __contains__(self, series_id: str) -> bool:
        return series_id in self._detectors

    def detector(self, series_id: str) -> SeriesDetector:
        found = self._detectors.get(series_id)
        if found is None:
            found = self._detectors[series_id] = SeriesDetector(self.config)
            if self.max_series is not None and len(self._detectors) > self.max_series:
                self._detectors.popitem(last=False)  # least recently updated series
        self._detectors.move_to_end(series_id)
        return found

    def update(self, series_id: str, ts: float, value: float) -> DetectionResult:
        return self.detector(series_id).update(ts, value)

    def drop(self, series_id: str) -> None:
        self._detectors.pop(series_id, None)

    def to_state(self) -> dict[str, dict]:
        return {sid: det.to_state() for sid, det in self._detectors.items()}

    @classmethod
    def from_state(cls, state: dict[str, dict], config: DetectorConfig | None = None,
                   max_series: int | None = None) -> DetectorBank:
        bank = cls(config, max_series)
        for sid, det_state in state.items():
            bank._detectors[sid] = SeriesDetector.from_state(det_state, bank.config)
        return bank
