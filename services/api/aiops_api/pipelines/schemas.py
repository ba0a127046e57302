"""API models of CI/CD pipelines: the list with grades, a pipeline's detail, its runs, anomalies, forecasts
and root-cause analysis (the worker's pipelines-analysis writes scores, forecasts and RCA; the API reads)."""

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    external_id: str
    number: int | None
    attempt: int
    status: str
    conclusion: str | None
    branch: str | None
    event: str | None
    commit_sha: str | None
    runner: str | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    url: str | None
    features: dict[str, Any]


class Dimension(BaseModel):
    name: str  # test_success, performance, resources, errors, stability
    weight: float
    score: float
    explanation: str
    trend: str  # improving, steady, worsening
    change: float  # points since the window before


class PipelineRead(BaseModel):
    id: uuid.UUID
    provider: str
    key: str
    name: str
    source: str
    url: str | None
    score: float | None
    grade: str | None
    scored_on: date | None
    builds_7d: int
    failed_7d: int
    last_run: RunRead | None


class PipelineDetail(PipelineRead):
    dimensions: list[Dimension]
    open_anomalies: int


class RunPage(BaseModel):
    items: list[RunRead]
    next_cursor: str | None  # pass as `cursor` for the next, older page; None on the last


class PipelineAnomaly(BaseModel):
    alert_id: uuid.UUID
    kind: str  # slow_build, queue_congestion, failure_spike, pattern_change, build_failed
    title: str
    severity: str
    status: str
    description: str
    first_seen_at: datetime
    last_seen_at: datetime
    count: int
    incident_id: uuid.UUID | None
    details: dict[str, Any]


class ForecastPoint(BaseModel):
    ts: float
    value: float
    lower: float
    upper: float


class SeriesForecast(BaseModel):
    metric: str  # failure_rate, duration_s
    method: str
    interval: float
    points: list[ForecastPoint]
    backtest_smape: dict[str, float | None]  # chosen model vs seasonal naive


class PipelineForecasts(BaseModel):
    computed_at: datetime | None
    series: list[SeriesForecast]


class Cause(BaseModel):
    kind: str
    name: str
    explained: float
    evidence: dict[str, Any]


class PipelineRca(BaseModel):
    computed_at: datetime
    anomaly: str
    metric: str
    onset_at: datetime
    before: float
    after: float
    causes: list[Cause]
    checks: list[dict[str, Any]]  # lagged correlation and Granger test per series, with caveats
    narrative: str
    narrative_by: str  # llm or template
