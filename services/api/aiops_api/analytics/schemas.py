"""API models of metric analytics: anomaly scores, forecasts and exhaustion predictions."""

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from aiops_api.errors import BadRequest
from aiops_contracts.influx import IDENTIFIER

_DURATION = re.compile(r"^(\d{1,4})([mhdw])$")
_UNIT_S = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def parse_duration(text: str, name: str, maximum: timedelta) -> timedelta:
    """`30m`, `12h`, `7d`, `2w`: what a person types, bounded by `maximum`."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise BadRequest(f"{name}: expected a duration like 30m, 12h, 7d or 2w, got {text!r}")
    duration = timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    if not timedelta(0) < duration <= maximum:
        raise BadRequest(f"{name}: must be above 0 and at most {maximum.days} days")
    return duration


def check_identifier(value: str | None, name: str) -> str | None:
    """Measurement and field names as Telegraf writes them; anything else is refused, never queried."""
    if value is not None and not IDENTIFIER.fullmatch(value):
        raise BadRequest(f"{name}: invalid name {value[:80]!r}: use letters, digits, _ . : -")
    return value


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


class ForecastPoint(BaseModel):
    time: datetime
    value: float
    lower: float
    upper: float


class ExhaustionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    series_key: str
    measurement: str
    field: str
    host: str | None
    tags: dict[str, str]
    threshold: float | None
    method: str
    last_value: float
    last_point_at: datetime
    computed_at: datetime
    exhausts_at: datetime | None
    exhausts_earliest: datetime | None
    exhausts_latest: datetime | None


class ExhaustionList(BaseModel):
    items: list[ExhaustionRead]  # soonest first


class SeriesForecastRead(ExhaustionRead):
    points: list[ForecastPoint]  # hourly, up to the requested horizon


class ForecastList(BaseModel):
    horizon_hours: float
    items: list[SeriesForecastRead]
