"""API models of forecasts: the worker's latest forecast and exhaustion prediction per capacity series."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


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
