"""API models of metrics: metric series of one host, and the fleet's latest state."""

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel


class Aggregation(StrEnum):
    """InfluxQL functions a series may be aggregated with per window (the only text pasted into queries)."""

    mean = "mean"
    median = "median"
    min = "min"
    max = "max"
    sum = "sum"
    count = "count"
    first = "first"
    last = "last"
    spread = "spread"


class SeriesQuery(BaseModel):
    """What a series request asks for, validated by the router (names whitelisted, window parsed)."""

    host: str
    measurement: str
    field: str
    start: datetime | None = None
    end: datetime | None = None
    window: timedelta
    agg: Aggregation


class SeriesPoint(BaseModel):
    time: datetime
    value: float | None


class SeriesRead(BaseModel):
    host: str
    measurement: str
    field: str
    agg: Aggregation
    window_seconds: int
    start: datetime
    end: datetime
    points: list[SeriesPoint]


class HostRead(BaseModel):
    host: str
    last_seen: datetime
    cpu_used_percent: float | None = None  # 100 - cpu-total usage_idle
    mem_used_percent: float | None = None
    disk_used_percent: float | None = None  # the fullest mounted path
    load1: float | None = None


class FleetRead(BaseModel):
    since: datetime
    hosts: list[HostRead]
