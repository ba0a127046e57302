"""False alarms on quiet series: the worker's detector on generated noise, in alerts per 10,000 points.

    python scripts/bench/false_alarms.py [--per-kind 10] [--hours 12] [--seed 0]

Series (one point a minute, fixed seed) of five kinds: Gaussian and heavy-tailed (Student-t, 3 degrees
of freedom) noise, each stationary and with a daily season, and Gaussian random walks. None holds an
anomaly, so every alert is a false one. An alert is what the worker raises: an opened anomaly whose
opening point passes `is_alertable` with the worker's default settings.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from aiops_worker.anomalies.alerts import is_alertable  # noqa: E402
from aiops_worker.anomalies.detectors import SeriesDetector  # noqa: E402
from aiops_worker.settings import WorkerSettings  # noqa: E402

STEP_S = 60.0
T0 = 1_700_000_000.0
KINDS = ("gaussian", "student_t", "gaussian_daily", "student_t_daily", "random_walk")


def generate(kind: str, points: int, rng: np.random.Generator) -> np.ndarray:
    """One noise series of `kind`: level 50, unit-scale noise."""
    if kind.startswith("student_t"):
        noise = rng.standard_t(3, points)
    else:
        noise = rng.normal(0.0, 1.0, points)
    if kind == "random_walk":
        return 50.0 + np.cumsum(noise)
    season = 0.0
    if kind.endswith("_daily"):
        phase = rng.uniform(0.0, 2 * np.pi)
        season = 10.0 * np.sin(2 * np.pi * np.arange(points) * STEP_S / 86_400.0 + phase)
    return 50.0 + season + noise


def alerts_of(values: np.ndarray, min_z: float, max_log10_p: float) -> tuple[int, int]:
    """(opened anomalies, of which alerts) of one series through a fresh detector."""
    detector = SeriesDetector()
    opened = alerts = 0
    for i, value in enumerate(values.tolist()):
        result = detector.update(T0 + STEP_S * i, value)
        if result.alert_transition == "opened":
            opened += 1
            alerts += is_alertable(result.event, min_z, max_log10_p)
    return opened, alerts


def run(per_kind: int, hours: float, seed: int) -> dict[str, tuple[int, int, int]]:
    """Per kind: (points, opened anomalies, alerts)."""
    rng = np.random.default_rng(seed)
    points = int(hours * 3600 / STEP_S)
    fields = WorkerSettings.model_fields
    gate = (fields["anomaly_alert_min_z"].default, fields["anomaly_alert_max_log10_p"].default)
    counts = {}
    for kind in KINDS:
        found = [alerts_of(generate(kind, points, rng), *gate) for _ in range(per_kind)]
        counts[kind] = (per_kind * points, sum(f[0] for f in found), sum(f[1] for f in found))
    return counts


def per_10k(count: int, points: int) -> float:
    return 10_000.0 * count / points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=10, help="series per kind")
    parser.add_argument("--hours", type=float, default=12.0, help="length of each series")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = run(args.per_kind, args.hours, args.seed)
    for kind, (points, opened, alerts) in counts.items():
        print(f"{kind:18s} {points:7d} points  anomalies {opened:4d}  alerts {alerts:4d}  "
              f"({per_10k(alerts, points):.2f} per 10,000 points)")
    points, opened, alerts = (sum(c[i] for c in counts.values()) for i in range(3))
    print(f"false alarms: {per_10k(alerts, points):.2f} alerts per 10,000 points "
          f"({alerts} alerts, {opened} anomalies, {points} points, {len(KINDS) * args.per_kind} series)")


if __name__ == "__main__":
    main()
