"""HTTP routes of forecasts: the forecast of a metric, and the fleet's exhaustion predictions."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.deps import SessionDep, Viewer
from aiops_api.forecasts import service
from aiops_api.forecasts.schemas import ExhaustionList, ForecastList
from aiops_api.metrics.params import Name, check_identifier, parse_duration
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/forecasts", tags=["forecasts"])

MAX_FORECAST_HORIZON = timedelta(days=90)


@router.get("", operation_id="get_forecast")
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
