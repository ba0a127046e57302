"""Leave-one-category-out evaluation and plain baselines for scripts/bench/nab.py (`--loo`).

For each category in turn, the setting of `GRID` that scores best (standard profile, pooled NAB score)
on the *other* categories is chosen and scored on the left-out one; the left-out average is printed
beside the in-sample figure of the shipped setting. Each category is scored as NAB scores a corpus
(threshold optimised on it), as an unseen set will be. Two baselines run on the same files: NAB's
null detector (normalised 0 by definition: no detections) and NAB's windowed Gaussian.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from nab_scoring import PROFILES, score_corpus

from aiops_worker.anomalies.detectors import DetectorConfig

Corpus = dict[str, tuple[list[float], list[tuple[int, int]]]]

# Settings the left-out search chooses among (a few, on purpose: each is one full detector run).
# The first one is the shipped default; the others move each knob fitted on the development
# categories (refractory pause, alert fatigue, tail reference rank, range floor) both ways, so the
# left-out figure pays for their fit. (An IsolationForest damping, learned_weight 0.5, was also
# tried here: standard 51.1 against 74.2, chosen in no fold; the forest was removed. A score made of
# the Gumbel tail probability alone, thresholded at a fixed p-value of 1e-4 per point, scored a
# per-category average of 58.2 against 79.2, and a tail reference at that law's 1e-4 or 1e-3
# quantile 58.3 and 62.7: the law fitted to the block maxima is too rough far out in the tail to
# rank points; it stays the alert gate's evidence, alerts.is_alertable.)
# Issue 17, judged on the real categories (per-category mean / corpus; shipped before 79.2 / 74.2, left-out
# 78.9) and on the generated held-out corpus of nab_generated.py (corpus standard; shipped before 59.1,
# windowed Gaussian 32.4):
# - peaks over threshold, not shipped: the reference is the level a generalised Pareto law
#   (probability-weighted moments, fitted to the top tenth of the block maxima, at least 5) puts at a
#   fixed probability per point. At 1/3,008 (once in the reference's memory): real 70.2 / 58.8
#   (realTraffic 55.0 against 85.1). At 2/3,008 (the rank-2 level of a full memory): real 72.8 / 63.4
#   (realTraffic 68.9), generated 66.2.
# - a rank that grows with the memory filled (the largest block maximum until 141 blocks, then the
#   2nd), not shipped: real 75.2 / 67.4 (realTraffic 70.1), generated 60.0.
#   Both make the reference conservative while a series' history is short: fewer false positives on
#   noise, but the real categories' anomalies often come early and were found late or missed.
# - shipped: the week is the season when it leaves at most half the variance a day leaves unexplained
#   (statistical._detect_period; before, the day won whenever it passed): real unchanged, every
#   file's scores identical (so is every left-out fold: the searched knobs act after the features),
#   generated 70.9 (genSeasonal 81.8 against 52.5).
#   Taking whichever period correlates best instead scored the same on the real files and 70.9 on the
#   generated ones, but a purely daily series then flipped between a day and a week at each check.
GRID: dict[str, dict] = {
    "shipped": {},
    "no alert fatigue": {"fatigue_step": 0.0},
    "alert fatigue 0.2": {"fatigue_step": 0.2},
    "refractory 24": {"refractory_points": 24},
    "refractory 60": {"refractory_points": 60},
    "tail rank 3": {"tail_rank": 3},
    "no range floor": {"range_score": 0.0},
}


def grid_configs() -> dict[str, DetectorConfig]:
    return {name: replace(DetectorConfig(), **overrides) for name, overrides in GRID.items()}


def windowed_gaussian(values: list[float], window: int = 6400, step: int = 100) -> list[float]:
    """NAB's windowedGaussian detector: 1 - tail probability of the value under the window's normal."""
    scores, data, pending = [], [], []
    mean, std = 0.0, 1.0
    for value in values:
        scores.append(1.0 - _tail(value, mean, std) if data else 0.0)
        if len(data) < window:
            data.append(value)
        else:
            pending.append(value)
            if len(pending) < step:
                continue
            data = data[step:] + pending
            pending = []
        mean, std = float(np.mean(data)), max(float(np.std(data)), 1e-6)
    return scores


def _tail(value: float, mean: float, std: float) -> float:
    """P(sample further from the mean than value), one-sided, as NAB's normalProbability."""
    z = abs(value - mean) / std
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def category_of(rel: str) -> str:
    return rel.split("/")[0]


def split(corpus: Corpus, keep: Callable[[str], bool]) -> Corpus:
    return {rel: item for rel, item in corpus.items() if keep(category_of(rel))}


def only(corpus: Corpus, category: str) -> Corpus:
    return split(corpus, lambda c: c == category)


def normalised(corpus: Corpus, profile: str) -> float | None:
    """NAB's normalised score of a corpus; None when it has no window (null = perfect = 0)."""
    if not any(ranges for _, ranges in corpus.values()):
        return None
    return score_corpus(corpus, profile)[0].normalised


def choose(runs: dict[str, Corpus], left_out: str) -> str:
    """The setting with the best standard score on every category but `left_out`."""
    def others(name: str) -> float:
        return normalised(split(runs[name], lambda c: c != left_out), "standard") or 0.0
    return max(runs, key=others)


def show(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.1f}"


def leave_one_out(runs: dict[str, Corpus], baseline: Corpus) -> None:
    """Per category and profile: in-sample (shipped), left-out (chosen on the others), windowed Gaussian."""
    shipped = next(iter(runs))
    categories = sorted({category_of(rel) for rel in runs[shipped]})
    chosen = {cat: choose(runs, cat) for cat in categories}
    for profile in PROFILES:
        print(f"leave-one-out, {profile}: in-sample / left-out / windowed Gaussian / left-out - Gaussian"
              " (null detector = 0)")
        rows = []
        for cat in categories:
            row = tuple(normalised(only(corpus, cat), profile)
                        for corpus in (runs[shipped], runs[chosen[cat]], baseline))
            diff = None if row[1] is None else row[1] - row[2]
            print(f"  {cat:24s} {show(row[0])} {show(row[1])} {show(row[2])} {show(diff)}  [{chosen[cat]}]")
            rows.append(row)
        means = [np.mean([r[i] for r in rows if r[i] is not None]) for i in range(3)]
        print(f"  {'AVERAGE':24s} {show(means[0])} {show(means[1])} {show(means[2])} "
              f"{show(means[1] - means[2])}")
