"""Tier 2: a per-series IsolationForest over windowed shape features.

The forest learns what the recent *shape* of the series (the last few robust z-scores) normally
looks like. It is refit on a schedule from a bounded buffer. After a fit only a compact array form
of the trees is kept (`CompactForest`): scoring one point through sklearn costs milliseconds, the
array walk tens of microseconds, and the arrays are small enough to live in the detector state so
that a worker restart keeps the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length


@dataclass(frozen=True)
class LearnedConfig:
    window: int = 8  # z-scores per feature vector
    min_samples: int = 100  # no model before this many feature vectors
    train_points: int = 512  # most recent vectors used for a fit (bounded memory)
    refit_every: int = 288  # points between refits (a day at 5-min sampling)
    contamination: float = 0.1
    n_estimators: int = 25  # small forest: fit and score stay cheap per series
    max_samples: int = 128
    seed: int = 0


@dataclass(frozen=True)
class CompactForest:
    """A fitted IsolationForest as padded (trees x nodes) arrays; same decision_function."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    leaf_depth: np.ndarray  # path length credited when a sample ends in this node
    denominator: float
    offset: float

    @classmethod
    def from_model(cls, model: IsolationForest) -> CompactForest:
        trees = [est.tree_ for est in model.estimators_]
        width = max(t.node_count for t in trees)

        def stack(arrays: list[np.ndarray], fill: float, dtype: type) -> np.ndarray:
            out = np.full((len(arrays), width), fill, dtype=dtype)
            for row, values in enumerate(arrays):
                out[row, :len(values)] = values
            return out

        # sklearn credits depth + average path of the leaf's remaining samples - 1 (see _iforest).
        depth = [d + a - 1.0 for d, a in zip(model._decision_path_lengths,
                                             model._average_path_length_per_tree)]
        max_samples = np.array([model._max_samples])
        return cls(stack([t.children_left for t in trees], -1, np.int32),
                   stack([t.children_right for t in trees], -1, np.int32),
                   stack([t.feature for t in trees], 0, np.int32),
                   stack([t.threshold for t in trees], 0.0, float),
                   stack(depth, 0.0, float),
                   len(trees) * float(_average_path_length(max_samples)[0]),
                   float(model.offset_))

    def decision(self, x: np.ndarray) -> float:
        """sklearn's decision_function for one sample: < 0 means outlier."""
        rows = np.arange(len(self.left))
        node = np.zeros(len(rows), dtype=np.int32)
        while True:
            left = self.left[rows, node]
            inner = left >= 0
            if not inner.any():
                break
            go_left = x[self.feature[rows, node]] <= self.threshold[rows, node]
            node = np.where(inner, np.where(go_left, left, self.right[rows, node]), node)
        depth = float(self.leaf_depth[rows, node].sum())
        return -(2.0 ** (-depth / self.denominator)) - self.offset

    def to_state(self) -> dict:
        arrays = ("left", "right", "feature", "threshold", "leaf_depth")
        state = {name: getattr(self, name).copy() for name in arrays}
        return state | {"denominator": self.denominator, "offset": self.offset}

    @classmethod
    def from_state(cls, state: dict) -> CompactForest:
        ints = {k: np.asarray(state[k], dtype=np.int32) for k in ("left", "right", "feature")}
        floats = {k: np.asarray(state[k], dtype=float) for k in ("threshold", "leaf_depth")}
        return cls(**ints, **floats, denominator=state["denominator"], offset=state["offset"])


class LearnedTier:
    """Feeds on the statistical tier's z-scores; scores only when asked (it is the costly tier)."""

    def __init__(self, config: LearnedConfig | None = None) -> None:
        self.config = config or LearnedConfig()
        self.buffer = np.zeros((self.config.train_points, self.config.window))
        self.count = 0
        self.since_fit = 0
        self.model: CompactForest | None = None

    def observe(self, recent_z: np.ndarray) -> None:
        """Add the feature vector ending at the current point; refit when due."""
        if len(recent_z) < self.config.window:
            return
        self.buffer[self.count % self.config.train_points] = recent_z
        self.count += 1
        self.since_fit += 1
        due = self.model is None or self.since_fit >= self.config.refit_every
        if due and self.count >= self.config.min_samples:
            self._fit()

    def score(self, recent_z: np.ndarray) -> float | None:
        """Outlier strength in [0, 1] of the current window, None until a model exists."""
        if self.model is None or len(recent_z) < self.config.window:
            return None
        # decision_function < 0 marks the `contamination` share of most isolated windows.
        decision = self.model.decision(recent_z)
        return min(1.0, max(0.0, -decision / 0.15))

    def _fit(self) -> None:
        cfg = self.config
        data = self.buffer[:min(self.count, cfg.train_points)]
        model = IsolationForest(n_estimators=cfg.n_estimators, max_samples=min(cfg.max_samples, len(data)),
                                contamination=cfg.contamination, random_state=cfg.seed)
        self.model = CompactForest.from_model(model.fit(data))
        self.since_fit = 0

    def to_state(self) -> dict:
        n = min(self.count, self.config.train_points)
        order = np.roll(self.buffer, -(self.count % self.config.train_points), axis=0)
        return {
            "buffer": order[-n:],
            "count": self.count,
            "since_fit": self.since_fit,
            "model": self.model.to_state() if self.model is not None else None,
        }

    @classmethod
    def from_state(cls, state: dict, config: LearnedConfig | None = None) -> LearnedTier:
        tier = cls(config)
        cap = tier.config.train_points
        rows = np.asarray(state["buffer"], dtype=float).reshape(-1, tier.config.window)[-cap:]
        tier.count = state["count"]
        for i, row in enumerate(rows):  # chronological rows end just before the next write slot
            tier.buffer[(tier.count - len(rows) + i) % cap] = row
        tier.since_fit = state["since_fit"]
        tier.model = CompactForest.from_state(state["model"]) if state["model"] else None
        return tier
