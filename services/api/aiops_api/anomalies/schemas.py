"""API models of anomalies: the anomaly scores the worker's detector writes to InfluxDB."""

from datetime import datetime

from pydantic import BaseModel


class AnomalyPointRead(BaseModel):
    time: datetime
    host: str | None
    measurement: str
    field: str
    series: str  # `measurement,tag=value,... field`
    score: float  # combined anomaly score in [0, 1]
    value: float | None
    baseline: float | None
    deviation: float | None
    z: float | None
    severity: str | None  # set while an anomaly is open
    transition: str | None  # opened / closed at this point


class AnomalyList(BaseModel):
    items: list[AnomalyPointRead]  # newest first
    truncated: bool  # more points matched than the limit
