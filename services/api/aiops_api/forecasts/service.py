"""Forecast queries: the worker's latest forecast and exhaustion prediction per capacity series, from
PostgreSQL (`forecasts`; the worker computes them, the API only reads)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.errors import NotFound
from aiops_api.forecasts.schemas import ExhaustionList, ExhaustionRead, ForecastList, ForecastPoint, SeriesForecastRead
from aiops_contracts.db import Forecast


async def list_exhaustion(session: AsyncSession, *, host: str | None, limit: int) -> ExhaustionList:
    """Series predicted to reach their limit, soonest first."""
    stmt = select(Forecast).where(Forecast.exhausts_at.is_not(None))
    if host:
        stmt = stmt.where(Forecast.host == host)
    stmt = stmt.order_by(Forecast.exhausts_at, Forecast.series_key).limit(limit)
    rows = (await session.scalars(stmt)).all()
    return ExhaustionList(items=[ExhaustionRead.model_validate(r) for r in rows])


async def get_forecasts(session: AsyncSession, *, measurement: str, field: str, host: str | None,
                        horizon: timedelta) -> ForecastList:
    """The latest stored forecast of every series of measurement.field (on `host`), cut at `horizon`."""
    stmt = select(Forecast).where(Forecast.measurement == measurement, Forecast.field == field)
    if host:
        stmt = stmt.where(Forecast.host == host)
    rows = (await session.scalars(stmt.order_by(Forecast.series_key))).all()
    if not rows:
        raise NotFound(f"no forecast for {measurement}.{field}{' on ' + host if host else ''}: forecasts "
                       "cover the series of the worker's capacity rules (FORECAST_CAPACITY_RULES)")
    return ForecastList(horizon_hours=horizon.total_seconds() / 3600,
                        items=[_with_points(row, horizon) for row in rows])


def _with_points(row: Forecast, horizon: timedelta) -> SeriesForecastRead:
    until = row.last_point_at.timestamp() + horizon.total_seconds()
    points = [ForecastPoint(time=datetime.fromtimestamp(t, UTC), value=v, lower=lo, upper=hi)
              for t, v, lo, hi in row.forecast if t <= until]
    return SeriesForecastRead(**ExhaustionRead.model_validate(row).model_dump(), points=points)
