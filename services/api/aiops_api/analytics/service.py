"""Analytics queries: anomaly scores from InfluxDB, forecasts and exhaustion predictions from PostgreSQL
(the worker computes both; the API only reads).

InfluxQL here is a constant text with `$name` placeholders: every value the caller gives (host,
measurement, field, times, score) travels in `params`, never in the statement.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.analytics.schemas import (
    AnomalyList,
    AnomalyPointRead,
    ExhaustionList,
    ExhaustionRead,
    ForecastList,
    ForecastPoint,
    SeriesForecastRead,
)
from aiops_api.errors import BadRequest, NotFound
from aiops_contracts.db import MetricForecast
from aiops_contracts.influx import ANOMALIES_MEASUREMENT, DatabaseNotFound, InfluxClient, quote_ident

MAX_ANOMALY_POINTS = 5_000
MAX_ANOMALY_SPAN = timedelta(days=31)
_ANOMALY_COLUMNS = ("score", "value", "baseline", "deviation", "z", "severity", "transition",
                    "host", "measurement", "field", "series")
# Tag filters the caller may set, by query parameter name (the tag keys are our own constants).
_ANOMALY_FILTERS = ("host", "measurement", "field")


def _anomaly_query(filters: dict[str, str]) -> str:
    columns = ", ".join(quote_ident(c) for c in _ANOMALY_COLUMNS)
    where = ["time >= $start", "time < $end", f"{quote_ident('score')} >= $min_score"]
    where += [f"{quote_ident(key)} = ${key}" for key in _ANOMALY_FILTERS if key in filters]
    return (f"SELECT {columns} FROM {quote_ident(ANOMALIES_MEASUREMENT)} WHERE {' AND '.join(where)} "
            f"ORDER BY time DESC LIMIT {MAX_ANOMALY_POINTS + 1}")


async def list_anomalies(influx: InfluxClient, *, filters: dict[str, str], start: datetime | None,
                         end: datetime | None, min_score: float) -> AnomalyList:
    """Anomaly points of the series matching `filters` (host, measurement, field) in [start, end)."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=1)
    if start >= end:
        raise BadRequest("start: must be before end")
    if end - start > MAX_ANOMALY_SPAN:
        raise BadRequest(f"start: the range may span at most {MAX_ANOMALY_SPAN.days} days")
    params = {**filters, "start": _rfc3339(start), "end": _rfc3339(end), "min_score": min_score}
    try:
        series = await influx.query(_anomaly_query(filters), params, epoch="ms")
    except DatabaseNotFound:
        return AnomalyList(items=[], truncated=False)
    rows = [row for s in series for row in s.rows()]
    items = [AnomalyPointRead(**{**row, "time": datetime.fromtimestamp(row["time"] / 1000, UTC)})
             for row in rows[:MAX_ANOMALY_POINTS]]
    return AnomalyList(items=items, truncated=len(rows) > MAX_ANOMALY_POINTS)


async def list_exhaustion(session: AsyncSession, *, host: str | None, limit: int) -> ExhaustionList:
    """Series predicted to reach their limit, soonest first."""
    stmt = select(MetricForecast).where(MetricForecast.exhausts_at.is_not(None))
    if host:
        stmt = stmt.where(MetricForecast.host == host)
    stmt = stmt.order_by(MetricForecast.exhausts_at, MetricForecast.series_key).limit(limit)
    rows = (await session.scalars(stmt)).all()
    return ExhaustionList(items=[ExhaustionRead.model_validate(r) for r in rows])


async def get_forecasts(session: AsyncSession, *, measurement: str, field: str, host: str | None,
                        horizon: timedelta) -> ForecastList:
    """The latest stored forecast of every series of measurement.field (on `host`), cut at `horizon`."""
    stmt = select(MetricForecast).where(MetricForecast.measurement == measurement, MetricForecast.field == field)
    if host:
        stmt = stmt.where(MetricForecast.host == host)
    rows = (await session.scalars(stmt.order_by(MetricForecast.series_key))).all()
    if not rows:
        raise NotFound(f"no forecast for {measurement}.{field}{' on ' + host if host else ''}: forecasts "
                       "cover the series of the worker's capacity rules (FORECAST_CAPACITY_RULES)")
    return ForecastList(horizon_hours=horizon.total_seconds() / 3600,
                        items=[_with_points(row, horizon) for row in rows])


def _with_points(row: MetricForecast, horizon: timedelta) -> SeriesForecastRead:
    until = row.last_point_at.timestamp() + horizon.total_seconds()
    points = [ForecastPoint(time=datetime.fromtimestamp(t, UTC), value=v, lower=lo, upper=hi)
              for t, v, lo, hi in row.forecast if t <= until]
    return SeriesForecastRead(**ExhaustionRead.model_validate(row).model_dump(), points=points)


def _rfc3339(moment: datetime) -> str:
    """An aware time (the router's InfluxTime makes naive ones UTC) as InfluxDB's RFC 3339."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
