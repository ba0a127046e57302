"""NAB scoring rules, re-implemented from numenta/NAB (nab/sweeper.py, nab/optimizer.py,
nab/runner.py normalize()).

Semantics kept on purpose, including NAB's quirks:
- probation = min(floor(0.15 * rows), 0.15 * 5000) leading rows per file, excluded from scoring;
- a row inside a window scores scaledSigmoid(-(right - i + 1) / width) * tp / scaledSigmoid(-1);
  only the best (= earliest) detection per window counts, a missed window costs -fn;
- a row outside windows costs fp * scaledSigmoid(|prevRight - i| / (prevWidth - 1)) after a
  window, -fp when no window precedes it;
- one threshold per profile, optimised over all files together (rows sorted by anomaly score,
  a threshold t flags every row with score >= t);
- normalised = 100 * (raw - null) / (perfect - null), null = the all-missed score,
  perfect = tp * number of windows in the labels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0},
}
PROBATION_PERCENT = 0.15


def scaled_sigmoid(position: float) -> float:
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True)
class SweepPoint:
    """One scorable row: NAB's AnomalyPoint without the timestamp."""

    anomaly_score: float
    sweep_score: float
    window: str | None  # window name, None outside windows


@dataclass(frozen=True)
class ThresholdScore:
    threshold: float
    score: float
    tp: int
    fp: int


@dataclass(frozen=True)
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalised: float


def window_index_ranges(timestamps: list, windows: list[tuple]) -> list[tuple[int, int]]:
    """Row ranges of windows; NAB enters a window only on an exact start-timestamp match."""
    index = {ts: i for i, ts in enumerate(timestamps)}
    return [(index[start], index[end]) for start, end in windows]


def probation_length(rows: int) -> float:
    return min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * 5000)


def sweep_points(name: str, scores: list[float], ranges: list[tuple[int, int]],
                 cost: dict[str, float]) -> list[SweepPoint]:
    """NAB's Sweeper.calcSweepScore for one file, probationary rows dropped."""
    max_tp = scaled_sigmoid(-1.0)
    probation = probation_length(len(scores))
    in_window = {}
    for left, right in ranges:
        for i in range(left, right + 1):
            in_window[i] = (left, right)
    points = []
    prev: tuple[int, int] | None = None
    for i, score in enumerate(scores):
        window = in_window.get(i)
        if window is not None:
            left, right = window
            position = -(right - i + 1) / float(right - left + 1)
            weighted = scaled_sigmoid(position) * cost["tpWeight"] / max_tp
        elif prev is None:
            weighted = -1.0 * cost["fpWeight"]
        else:
            width = prev[1] - prev[0] + 1
            position = abs(prev[1] - i) / float(width - 1)
            weighted = scaled_sigmoid(position) * cost["fpWeight"]
        if i >= probation:
            label = f"{name}|{window[0]}" if window is not None else None
            points.append(SweepPoint(score, weighted, label))
        if window is not None and i == window[1]:
            prev = window
    return points


def scores_by_threshold(points: list[SweepPoint], cost: dict[str, float]) -> list[ThresholdScore]:
    """NAB's Sweeper.calcScoreByThreshold: score for every distinct threshold."""
    ordered = sorted(points, key=lambda p: p.anomaly_score, reverse=True)
    windows = {p.window: -cost["fnWeight"] for p in ordered if p.window is not None}
    window_total = sum(windows.values())
    fp_total = 0.0
    tp = fp = 0
    threshold = 1.1
    result = []
    for point in ordered:
        if point.anomaly_score != threshold:
            result.append(ThresholdScore(threshold, fp_total + window_total, tp, fp))
            threshold = point.anomaly_score
        if point.window is None:
            fp += 1
            fp_total += point.sweep_score
        else:
            tp += 1
            best = windows[point.window]
            if point.sweep_score > best:
                window_total += point.sweep_score - best
                windows[point.window] = point.sweep_score
    result.append(ThresholdScore(threshold, fp_total + window_total, tp, fp))
    return result


def score_corpus(files: dict[str, tuple[list[float], list[tuple[int, int]]]],
                 profile: str) -> tuple[ProfileResult, dict[str, list[SweepPoint]]]:
    """Optimise one threshold over all files; files maps name -> (scores, window ranges)."""
    cost = PROFILES[profile]
    per_file = {name: sweep_points(name, s, r, cost) for name, (s, r) in files.items()}
    every = [p for pts in per_file.values() for p in pts]
    table = scores_by_threshold(every, cost)
    best = max(table, key=lambda t: t.score)
    null = table[0].score  # threshold 1.1: nothing detected
    perfect = cost["tpWeight"] * sum(len(r) for _, r in files.values())
    normalised = 100.0 * (best.score - null) / (perfect - null)
    return ProfileResult(profile, best.threshold, best.score, null, perfect, normalised), per_file


def file_breakdown(points: list[SweepPoint], threshold: float,
                   fn_weight: float) -> tuple[float, int, int, int]:
    """(score, detected windows, missed windows, false-positive rows) of one file at threshold."""
    windows: dict[str, float] = {}
    fp_score, fps = 0.0, 0
    for p in points:
        if p.window is not None:
            windows.setdefault(p.window, -math.inf)
            if p.anomaly_score >= threshold:
                windows[p.window] = max(windows[p.window], p.sweep_score)
        elif p.anomaly_score >= threshold:
            fp_score += p.sweep_score
            fps += 1
    hit = sum(1 for v in windows.values() if v > -math.inf)
    missed = len(windows) - hit
    detected = sum(v for v in windows.values() if v > -math.inf)
    return fp_score + detected - fn_weight * missed, hit, missed, fps
