"""API model of the dashboard's overview: one answer for its first screen."""

from datetime import datetime

from pydantic import BaseModel

from aiops_api.forecasts.schemas import ExhaustionRead
from aiops_contracts.events import Severity


class VolumeBucket(BaseModel):
    bucket_start: datetime  # the start of the hour (UTC)
    count: int  # alert events accepted in the hour


class NoiseReduction(BaseModel):
    """How much the platform condensed the window: events → alerts → incidents."""

    events: int  # alert_events + log_lines
    alert_events: int  # alert notifications accepted and stored (repeats included)
    log_lines: int  # log lines templated
    alerts: int  # distinct alerts with activity in the window
    incidents: int  # incidents with activity in the window


class SourceVolume(BaseModel):
    source: str
    alerts: int  # distinct alerts of the source with activity in the window


class StoreHealth(BaseModel):
    name: str  # postgres, redis, influxdb, chromadb
    ok: bool
    detail: str  # "ok", or the error


class Overview(BaseModel):
    window_start: datetime  # the first bucket's start: every figure counts from here
    hours: int
    open_incidents_by_severity: dict[Severity, int]  # incidents not resolved (open or acknowledged)
    alert_volume: list[VolumeBucket]  # one per hour, oldest first, zeros included
    noise_reduction: NoiseReduction
    top_sources: list[SourceVolume]  # the 5 noisiest, most alerts first
    exhaustion: list[ExhaustionRead]  # the 10 soonest predicted exhaustions
    stores: list[StoreHealth]
