"""API models of quality: the latest detection-quality report (scripts/bench/quality.py)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class QualityScore(BaseModel):
    subject: str  # a data set, a category, or "all"/"average"
    metric: str
    value: float
    better: Literal["higher", "lower", "target"]  # target: closest to 0.95 (interval coverage)
    reference: bool  # a plain baseline shown beside the shipped detectors


class QualityBenchmark(BaseModel):
    name: str
    title: str
    data: str  # what data it ran on
    duration_s: float
    scores: list[QualityScore]


class QualityReport(BaseModel):
    available: bool = False  # False: no report has been written yet (the other fields are empty)
    measured_at: datetime | None = None
    git_commit: str | None = None
    duration_s: float | None = None
    benchmarks: list[QualityBenchmark] = []
