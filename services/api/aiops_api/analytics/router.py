"""HTTP routes of metric analytics: anomalies, forecasts, exhaustion predictions."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.analytics import service
from aiops_api.analytics.schemas import (
    AnomalyList,
    ExhaustionList,
    EndTime,
    ForecastList,
    StartTime,
    check_identifier,
    parse_duration,
)
from aiops_api.deps import InfluxDep, SessionDep, Viewer
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

MAX_FORECAST_HORIZON = timedelta(days=90)
Name = Annotated[str, Query(max_length=200)]


@router.get("/anomalies", operation_id="list_anomalies")
async def list_anomalies(
    influx: InfluxDep,
    _: Viewer,
    host: Annotated[str | None, Query(max_length=255)] = None,
    measurement: Name | None = None,
    field: Name | None = None,
    start: StartTime = None,
    end: EndTime = None,
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
) -> AnomalyList:
    """Anomaly scores (the detector keeps points scoring 0.5 or more) of matching series; default: the last day."""
    filters = {"host": host, "measurement": check_identifier(measurement, "measurement"),
               "field": check_identifier(field, "field")}
    return await service.list_anomalies(influx, filters={k: v for k, v in filters.items() if v is not None},
                                        start=start, end=end, min_score=min_score)


@router.get("/forecast", operation_id="get_forecast")
async def get_forecast(
    session: SessionDep,
    _: Viewer,
    measurement: Name,
    field: Name,
    host: Annotated[str | None, Query(max_length=255)] = None,
    horizon: str = "7d",
) -> ForecastList:
    """The latest forecast, with its confidence band, of each series of measurement.field (on host), cut at
    `horizon`. The worker forecasts FORECAST_HORIZON_DAYS ahead (7 d by default): a longer horizon returns
    what was forecast, so the points end there."""
    return await service.get_forecasts(
        session, measurement=check_identifier(measurement, "measurement"), field=check_identifier(field, "field"),
        host=host, horizon=parse_duration(horizon, "horizon", MAX_FORECAST_HORIZON))


@router.get("/exhaustion", operation_id="list_exhaustion")
async def list_exhaustion(
    session: SessionDep,
    _: Viewer,
    host: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ExhaustionList:
    """Fleet-wide predictions of capacity running out, most urgent first."""
    return await service.list_exhaustion(session, host=host, limit=limit)
