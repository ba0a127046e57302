"""Leave-one-out for the Loghub benchmark (``loghub.py --loo``).

Every setting of a small grid of the miner's knobs is scored on every set. For each set in turn,
the setting with the best mean (GA + PA) / 2 on the *other* sets is chosen and scored on the one
left out (ties keep the shipped setting). The left-out average estimates what the miner scores on
sets it was not tuned on; design choices are made on it, not on the in-sample figure.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, fields, replace

from loghub import Score, evaluate, mean

from aiops_worker.logs.mining import MinerConfig

# Knob -> values tried; the shipped value is added when missing.
GRID: dict[str, tuple] = {
    "sim_threshold": (0.5, 0.6, 0.7),
    "sibling_merge": (3, 4),
    "vocabulary_merge": (3, 0),
    "variant_max_gap": (-1, 4, 8),
}


def settings() -> list[MinerConfig]:
    """The shipped setting first, then every other combination of the grid."""
    shipped = MinerConfig()
    known = {f.name for f in fields(MinerConfig)}
    grid = {knob: sorted(set(values) | {getattr(shipped, knob)}) for knob, values in GRID.items() if knob in known}
    combos = [replace(shipped, **dict(zip(grid, values))) for values in itertools.product(*grid.values())]
    return [shipped] + [c for c in combos if c != shipped]


def objective(score: Score) -> float:
    return (score.ga + score.pa) / 2


def leave_one_out(data: dict[str, tuple[list[str], list[str]]], in_sample: list[Score]) -> None:
    configs = settings()
    table = {name: [evaluate(name, messages, truth, config=c) for c in configs]
             for name, (messages, truth) in data.items()}
    print(f"\nLEAVE-ONE-OUT over {len(configs)} settings of {', '.join(GRID)}")
    left_out = []
    for shipped, name in zip(in_sample, data):
        others = [n for n in data if n != name]
        best = max(range(len(configs)), key=lambda i: (mean(objective(table[n][i]) for n in others), -i))
        score = table[name][best]
        left_out.append(score)
        chosen = {k: v for k, v in asdict(configs[best]).items() if k in GRID}
        print(f"{name:10s} in-sample GA {shipped.ga:.3f} PA {shipped.pa:.3f}  left-out GA {score.ga:.3f}"
              f" PA {score.pa:.3f}  chosen {chosen}", flush=True)
    print(f"{'IN-SAMPLE':10s} GA {mean(s.ga for s in in_sample):.3f}  PA {mean(s.pa for s in in_sample):.3f}")
    print(f"{'LEFT-OUT':10s} GA {mean(s.ga for s in left_out):.3f}  PA {mean(s.pa for s in left_out):.3f}")
