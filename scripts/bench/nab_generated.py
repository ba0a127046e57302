"""A held-out stress check for the NAB score: generated series shaped like the public NAB categories that
../shared/bench-data lacks, with labelled windows, scored by the same NAB scorer.

    python scripts/bench/nab_generated.py [--out DIR] [--seed 0] [--workers 2]

Writes a NAB-layout corpus (`<out>/data/<category>/<file>.csv`, `<out>/labels/combined_windows.json`;
seeded, so the same files every run), then runs the shipped detector and NAB's windowed Gaussian on it and
prints the standard score per category and the three profiles over the whole corpus, with the difference.
Four categories, ten files each, 4,032 points a file (14 days at 5-minute steps):
- `genSeasonal` (like NYC taxi, ambient temperature; 12 weeks at 30-minute steps): daily and weekly seasons
  with autocorrelated noise; anomalies are a holiday (a weekday at the weekend's level), a spike, a day whose
  cycle doubles, a dip;
- `genCounts` (like tweet volumes): Poisson counts of a rate with a daily cycle and heavy-tailed,
  unlabelled small bursts; anomalies are large bursts that fade over hours;
- `genDrift` (like a machine failure, CPU, request latency): a slow drift that ends in a failure (a level
  collapse), or a sustained step in a spiky latency series;
- `genNoAnomaly` (like artificialNoAnomaly): noise, season plus noise, a mean-reverting walk, heavy-tailed
  noise, a flat line with tiny noise; no windows, so only their false positives count.
Windows follow NAB's labelling rule: 10 % of the file's length shared among its anomalies, centred on each
anomaly's start. This set is a second held-out check beside leave-one-out on the real categories
(nab.py --loo), not a set to tune on.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nab  # noqa: E402
from nab_loo import Corpus, category_of, normalised, only, show  # noqa: E402
from nab_scoring import PROFILES  # noqa: E402

POINTS = 4032  # per file: 14 days at 5-minute steps, 12 weeks at 30-minute steps
DAY = 288  # points per day at 5-minute steps
SEASONAL_DAY = 48  # points per day at 30-minute steps
T0 = datetime(2024, 3, 4, tzinfo=UTC).timestamp()  # a Monday
WINDOW_SHARE = 0.1  # NAB: windows cover 10 % of a file, shared among its anomalies
Series = tuple[np.ndarray, list[int]]  # values, anomaly start indices


def ar_noise(rng: np.random.Generator, phi: float = 0.8) -> np.ndarray:
    """AR(1) noise of unit marginal scale."""
    shocks = rng.normal(0.0, np.sqrt(1.0 - phi * phi), POINTS)
    out = np.empty(POINTS)
    out[0] = rng.normal()
    for i in range(1, POINTS):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def daily_shape(rng: np.random.Generator, day: int = DAY) -> np.ndarray:
    """A smooth daily cycle in [-1, 1] with a random phase, repeated over the file."""
    phase = rng.uniform(0, 2 * np.pi)
    t = 2 * np.pi * np.arange(POINTS) / day + phase
    return np.sin(t) + 0.3 * np.sin(2 * t + phase)


def weekend(points: np.ndarray, day: int = DAY) -> np.ndarray:
    return ((points // day) % 7) >= 5


def anomaly_starts(rng: np.random.Generator, count: int, day: int = DAY) -> list[int]:
    """Anomaly starts on weekdays after the probation period (15 %) and a day, at least two days apart and
    far enough apart that their windows do not overlap."""
    gap = max(2 * day, int(WINDOW_SHARE * POINTS / count) + 1)
    while True:
        starts = sorted(rng.integers(int(0.15 * POINTS) + day, POINTS - day, count).tolist())
        apart = all(b - a >= gap for a, b in zip(starts, starts[1:]))
        if apart and not weekend(np.array(starts), day).any():
            return starts


def seasonal(rng: np.random.Generator, kind: int) -> Series:
    """At 30-minute steps (as taxi counts), so that 12 weeks show the weekly season."""
    day = SEASONAL_DAY
    low = np.where(weekend(np.arange(POINTS), day), 0.6, 1.0)  # weekends: a lower level and a flatter cycle
    level, amplitude = rng.uniform(50, 100), rng.uniform(10, 25)
    shape = daily_shape(rng, day)
    values = level * low + amplitude * low * shape + 0.15 * amplitude * ar_noise(rng)
    kind %= 4
    starts = anomaly_starts(rng, 2, day)
    if kind == 0:  # holidays: whole weekdays at the weekend's level, from midnight
        starts = [start - start % day for start in starts]
    for start in starts:
        if kind == 0:
            values[start:start + day] = level * 0.6 + (values[start:start + day] - level) * 0.6
        elif kind == 1:  # a spike of one or two points
            values[start:start + 2] += rng.choice((-1, 1)) * 3.0 * amplitude
        elif kind == 2:  # the daily cycle doubles for a day
            values[start:start + day] += amplitude * shape[start:start + day]
        else:  # a dip for two hours
            values[start:start + day // 12] -= 1.5 * amplitude
    return values, starts


def counts(rng: np.random.Generator, kind: int) -> Series:
    base = rng.uniform(5, 40)
    log_rate = np.log(base) + 0.5 * daily_shape(rng) + 0.3 * ar_noise(rng, 0.95)
    # Unlabelled small bursts, about one a day: a heavy-tailed multiple fading over an hour.
    for start in rng.integers(0, POINTS - 12, POINTS // DAY):
        log_rate[start:start + 12] += np.log1p(rng.pareto(2.5) + 0.5) * np.exp(-np.arange(12) / 4)
    starts = anomaly_starts(rng, 1 + kind % 2)
    for start in starts:
        span = 36  # a burst fading over three hours
        log_rate[start:start + span] += np.log(rng.uniform(4, 10)) * np.exp(-np.arange(span) / 12)
    return rng.poisson(np.exp(log_rate)).astype(float), starts


def drift(rng: np.random.Generator, kind: int) -> Series:
    level, scale = rng.uniform(40, 90), rng.uniform(1, 3)
    values = level + scale * (0.5 * daily_shape(rng) + ar_noise(rng, 0.9))
    if kind % 2:  # request latency: spiky, then a sustained step up
        spikes = rng.random(POINTS) < 0.01
        values += spikes * rng.pareto(2.0, POINTS) * 4 * scale
        (start,) = anomaly_starts(rng, 1)
        values[start:] += 6 * scale
        return values, [start]
    # A slow drift over a day and a half ending in a failure: the level collapses for half a day.
    failure = int(rng.integers(7 * DAY, POINTS - DAY))
    onset = failure - DAY * 3 // 2
    values[onset:failure] += np.linspace(0, 8 * scale, failure - onset)
    values[failure:failure + DAY // 2] = level - 15 * scale + scale * rng.normal(size=DAY // 2)
    return values, [onset + DAY // 2, failure]  # labelled once the drift is a few sigmas, and at the failure


def no_anomaly(rng: np.random.Generator, kind: int) -> Series:
    noise = rng.normal(size=POINTS)
    made = (50 + 5 * noise,
            50 + 20 * daily_shape(rng) + 2 * noise,
            50 + 3 * ar_noise(rng, 0.995),
            50 + 2 * rng.standard_t(3, POINTS),
            50 + 0.01 * noise)
    return made[kind % len(made)], []


# Per category: the series maker and the step in seconds.
CATEGORIES: dict[str, tuple[Callable[[np.random.Generator, int], Series], int]] = {
    "genSeasonal": (seasonal, 1800), "genCounts": (counts, 300), "genDrift": (drift, 300),
    "genNoAnomaly": (no_anomaly, 300)}
FILES_PER_CATEGORY = 10


def stamp(i: int, step_s: int) -> str:
    return datetime.fromtimestamp(T0 + step_s * i, UTC).strftime("%Y-%m-%d %H:%M:%S")


def windows_of(starts: list[int], step_s: int) -> list[list[str]]:
    if not starts:
        return []
    half = int(WINDOW_SHARE * POINTS / len(starts)) // 2
    return [[stamp(max(0, s - half), step_s), stamp(min(POINTS - 1, s + half), step_s)] for s in starts]


def generate(out: Path, seed: int) -> dict[str, list[list[str]]]:
    """Writes the corpus under `out`; returns its windows (also written as labels/combined_windows.json)."""
    rng = np.random.default_rng(seed)
    windows = {}
    for category, (make, step_s) in CATEGORIES.items():
        folder = out / "data" / category
        folder.mkdir(parents=True, exist_ok=True)
        for kind in range(FILES_PER_CATEGORY):
            values, starts = make(rng, kind)
            name = f"{category}/{category}_{kind}.csv"
            with (out / "data" / name).open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["timestamp", "value"])
                writer.writerows((stamp(i, step_s), f"{v:.4f}") for i, v in enumerate(values))
            windows[name] = windows_of(starts, step_s)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "labels" / "combined_windows.json").write_text(json.dumps(windows, indent=1) + "\n")
    return windows


def compare(corpus: Corpus, baseline: Corpus) -> None:
    """Standard score per category, then each profile over the whole corpus: shipped, Gaussian, difference."""
    print("generated held-out check: shipped / windowed Gaussian / shipped - Gaussian (null detector = 0)")
    rows = [(f"{category} standard", category, "standard") for category in sorted({category_of(r) for r in corpus})]
    rows += [(f"ALL {profile}", None, profile) for profile in PROFILES]
    for label, category, profile in rows:
        ours, theirs = (normalised(c if category is None else only(c, category), profile) for c in (corpus, baseline))
        diff = None if ours is None else ours - theirs
        target = "  (target >= 70)" if label == "ALL standard" else ""
        print(f"  {label:32s} {show(ours)} {show(theirs)} {show(diff)}{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/nab-generated"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    windows = generate(args.out, args.seed)
    data = args.out / "data"
    compare(nab.run_corpus(data, windows, args.workers), nab.run_corpus(data, windows, args.workers, nab.gaussian_file))


if __name__ == "__main__":
    main()
