"""Build anomalies of one pipeline: the platform's streaming detectors (anomalies/detectors.py) run over its
builds, one series per feature, in build order (the builds are the time axis: a pipeline that builds ten times
a day and one that builds twice are judged on the same number of builds).

Each series answers one question, and names the kind of alert it raises:
- `slow_build`: duration went up;
- `queue_congestion`: queue time went up;
- `failure_spike`: the share of failed builds over the last `failure_window` builds went up;
- `pattern_change`: the job or step count changed (either way): the pipeline itself changed.
An opening counts only when it is alertable by the anomaly detector's own rule (`is_alertable`: deviation
and calibrated tail probability) and the shift holds for `confirm_builds` more builds; openings of several series within `merge_builds` builds are one anomaly.
The replay is deterministic, so re-running it on the same builds gives the same anomalies (and alert ids).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from aiops_worker.anomalies.alerts import is_alertable, plain
from aiops_worker.anomalies.combined import AnomalyEvent, DetectorConfig, severity_for
from aiops_worker.anomalies.detectors import SeriesDetector
from aiops_worker.anomalies.statistical import StatisticalConfig
from aiops_worker.pipelines.features import Build

# feature -> (kind, whether a drop counts too); failures have a test of their own (failure_surprise)
DETECTED = {
    "duration_s": ("slow_build", False),
    "queue_s": ("queue_congestion", False),
    "job_count": ("pattern_change", True),
    "step_count": ("pattern_change", True),
}
KIND_TITLES = {"slow_build": "Slow builds", "queue_congestion": "Queue congestion", "failure_spike": "Failure spike",
               "pattern_change": "Pipeline pattern change"}


@dataclass(frozen=True)
class DetectionSettings:
    baseline_builds: int = 60
    warmup_builds: int = 30
    tail_block: int = 8
    tail_blocks: int = 80
    tail_warmup: int = 80
    # One alert per regression: quiet until the baseline (baseline_builds) has taken in the new level.
    refractory_builds: int = 60
    close_builds: int = 8
    fatigue_builds: float = 100.0
    # The alert rule of the anomaly detector (is_alertable), stricter than its metric defaults (3, -5): the series
    # are rolling medians of 7 builds, whose neighbouring points share most of their builds, so one point's tail
    # probability overstates how rare the excursion is. Chosen on the tuning seeds of scripts/bench/pipelines_eval.py.
    min_z: float = 6.0
    max_log10_p: float = -8.0
    failure_window: int = 20
    median_builds: int = 7
    failure_history: int = 200
    failure_log10_p: float = 7.0
    merge_builds: int = 10
    confirm_builds: int = 5  # a duration or queue shift must hold this many builds more (see _sustained)

    def detector_config(self) -> DetectorConfig:
        stat = StatisticalConfig(baseline_seconds=0.0, min_baseline_points=self.baseline_builds,
                                 history_points=4 * self.baseline_builds, warmup_points=self.warmup_builds,
                                 seasonal_periods=())
        return DetectorConfig(statistical=stat, tail_block=self.tail_block, tail_blocks=self.tail_blocks,
                              tail_warmup=self.tail_warmup, refractory_points=self.refractory_builds,
                              close_points=self.close_builds, fatigue_points=self.fatigue_builds)


@dataclass
class BuildAnomaly:
    kind: str
    index: int  # the build at which it opened
    ts: float
    severity: str
    features: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]


def series_values(builds: list[Build], settings: DetectionSettings) -> dict[str, list[float | None]]:
    """Each series the detectors read, one value per build (None where the build does not say): the rolling
    median of the last `median_builds` (one slow build, a cache miss, is not a regression; three in five are)."""
    return {name: _medians([b.features.get(name) for b in builds], settings.median_builds) for name in DETECTED}


def _medians(raw: list[Any], window: int) -> list[float | None]:
    return [None if raw[i] is None else
            statistics.median(float(v) for v in raw[max(0, i - window + 1):i + 1] if v is not None)
            for i in range(len(raw))]


def failure_surprise(builds: list[Build], settings: DetectionSettings) -> list[float]:
    """Per build, -log10 of the binomial probability of at least the failures seen among the last
    `failure_window` builds, at the rate of the `failure_history` builds before them (Jeffreys prior: a clean
    history is not a rate of 0): of the failed builds, and of each test that failed (Bonferroni over the tests
    that failed in the window), whichever is more surprising. A test that never failed and now fails in several
    builds stands out even on a pipeline whose builds fail for scattered reasons. The robust z of the detectors
    degenerates on 0/1 outcomes (their MAD is 0 on a mostly green pipeline), hence this exact test."""
    out = []
    for i in range(len(builds)):
        recent = builds[max(0, i - settings.failure_window + 1):i + 1]
        history = builds[max(0, i + 1 - len(recent) - settings.failure_history):i + 1 - len(recent)]
        if len(history) < settings.failure_history // 2:
            out.append(0.0)
            continue
        failed_now = [b for b in recent if b.features.get("failed")]
        p = _tail(len(failed_now), len(recent), sum(bool(b.features.get("failed")) for b in history), len(history))
        tests = {name for b in failed_now for name, t in b.tests.items() if t.outcome == "failed"}
        for name in tests:
            k = sum(b.tests[name].outcome == "failed" for b in failed_now if name in b.tests)
            h = sum(b.tests[name].outcome == "failed" for b in history if name in b.tests)
            p = min(p, len(tests) * _tail(k, len(recent), h, len(history)))
        out.append(-math.log10(max(min(p, 1.0), 1e-300)))
    return out


def _tail(k: int, n: int, h: int, m: int) -> float:
    return float(stats.binom.sf(k - 1, n, (h + 0.5) / (m + 1)))


def _failure_spikes(builds: list[Build], cfg: DetectionSettings) -> list[BuildAnomaly]:
    surprise = failure_surprise(builds, cfg)
    found, quiet_until = [], -1
    for index, value in enumerate(surprise):
        if value >= cfg.failure_log10_p and index > quiet_until:
            recent = builds[max(0, index - cfg.failure_window + 1):index + 1]
            evidence = {"failed_builds": sum(int(b.features.get("failed") or 0) for b in recent),
                        "window_builds": len(recent), "minus_log10_p": round(value, 2)}
            severity = "high" if value >= 2 * cfg.failure_log10_p else "medium"
            found.append(BuildAnomaly("failure_spike", index, builds[index].ts, severity, ["failed"], evidence))
            quiet_until = index + cfg.refractory_builds
    return found


def detect(builds: list[Build], settings: DetectionSettings | None = None) -> list[BuildAnomaly]:
    """The pipeline's anomalies over `builds` (oldest first), oldest first."""
    cfg = settings or DetectionSettings()
    found = _failure_spikes(builds, cfg)
    values = series_values(builds, cfg)
    for name, (kind, both_ways) in DETECTED.items():
        quiet_until = -1
        for index, evidence in _alertable(values[name], cfg):
            if index <= quiet_until or not (both_ways or evidence["z"] > 0):
                continue
            confirmed = _sustained(values[name], index, evidence, cfg.confirm_builds)
            if confirmed is not None:
                found.append(BuildAnomaly(kind, confirmed, builds[confirmed].ts, _severity(evidence), [name],
                                          {**evidence, "opened_at_build": index}))
                quiet_until = index + cfg.refractory_builds
    return _merged(sorted(found, key=lambda a: a.index), cfg.merge_builds)


def _alertable(values: list[float | None], cfg: DetectionSettings) -> Iterator[tuple[int, dict[str, Any]]]:
    """The builds whose point the detector scored at least its opening threshold and that pass the anomaly
    detector's alert rule (`is_alertable`). Judged point by point, not on the detector's own open/close
    state: an unalertable blip that opened it must not hide the regression that follows."""
    detector = SeriesDetector(cfg.detector_config())
    threshold = detector.config.open_threshold
    for index, value in enumerate(values):
        if value is None:
            continue
        result = detector.update(float(index), value)
        evidence = result.evidence
        if evidence.get("raw_score", 0.0) < threshold:
            continue
        event = AnomalyEvent(float(index), None, evidence["raw_score"], "low", evidence)
        if is_alertable(event, cfg.min_z, cfg.max_log10_p):
            yield index, plain({k: evidence.get(k) for k in _EVIDENCE})


def _sustained(values: list[float | None], index: int, evidence: dict[str, Any], builds: int) -> int | None:
    """The build confirming the shift opened at `index`: the next `builds` values all stay beyond half the
    deviation from the baseline (a streak of slow builds, cache misses that came together, passes; a regression
    stays). None when they do not, or are not all in yet."""
    baseline, value = evidence.get("baseline"), evidence.get("value")
    if baseline is None or value is None:
        return index
    half = baseline + (value - baseline) / 2
    after = values[index + 1:index + 1 + builds]
    if len(after) < builds or any(v is None or (v - half) * (value - baseline) < 0 for v in after):
        return None
    return index + builds


def _severity(evidence: dict[str, Any]) -> str:
    return severity_for(abs(evidence.get("z") or 0.0)) or "low"


_EVIDENCE = ("value", "baseline", "deviation", "z", "tail_log10_p", "range_excess", "raw_score")


def _merged(anomalies: list[BuildAnomaly], within: int) -> list[BuildAnomaly]:
    merged: list[BuildAnomaly] = []
    for anomaly in anomalies:
        last = merged[-1] if merged else None
        if last is not None and anomaly.index - last.index <= within:
            last.features.extend(f for f in anomaly.features if f not in last.features)
            last.evidence.setdefault("also", {})[anomaly.features[0]] = anomaly.evidence
            continue
        merged.append(anomaly)
    return merged
