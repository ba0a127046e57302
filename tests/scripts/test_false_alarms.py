"""scripts/bench/false_alarms.py on a small fixed-seed sample: the worker's detector raises fewer than one
alert per 10,000 points of generated noise (Gaussian and Student-t, flat and daily, random walks)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "false_alarms.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("false_alarms", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_noise_raises_under_one_alert_per_10k_points():
    bench = load_bench()
    counts = bench.run(per_kind=3, hours=12.0, seed=0)
    points = sum(c[0] for c in counts.values())
    alerts = sum(c[2] for c in counts.values())
    assert points == 5 * 3 * 720
    assert bench.per_10k(alerts, points) < 1.0, counts
