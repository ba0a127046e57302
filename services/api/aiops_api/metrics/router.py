"""HTTP routes of metrics: metric series per host, and the fleet overview."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.deps import InfluxDep, Viewer
from aiops_api.metrics import service
from aiops_api.metrics.params import EndTime, Name, StartTime, check_identifier, parse_duration
from aiops_api.metrics.schemas import Aggregation, FleetRead, SeriesQuery, SeriesRead

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])

MAX_WINDOW = timedelta(days=7)
MAX_FLEET_SINCE = timedelta(days=90)


@router.get("/series", operation_id="get_metric_series")
async def get_series(
    influx: InfluxDep,
    _: Viewer,
    host: Annotated[str, Query(min_length=1, max_length=255)],
    measurement: Name,
    field: Name,
    start: StartTime = None,
    end: EndTime = None,
    window: Annotated[str, Query(description="aggregation window: 1m, 5m, 1h, 1d ...")] = "1m",
    agg: Aggregation = Aggregation.mean,
) -> SeriesRead:
    """`agg(field)` of `measurement` on `host` per `window` over [start, end); default: the last hour."""
    query = SeriesQuery(host=host, measurement=check_identifier(measurement, "measurement"),
                        field=check_identifier(field, "field"), start=start, end=end,
                        window=parse_duration(window, "window", MAX_WINDOW), agg=agg)
    return await service.get_series(influx, query=query)


@router.get("/fleet", operation_id="get_metric_fleet")
async def get_fleet(
    influx: InfluxDep,
    _: Viewer,
    since: Annotated[str, Query(description="hosts seen within this long: 15m, 1h, 24h, 7d ...")] = "24h",
) -> FleetRead:
    """Every host that reported key metrics (cpu, mem, disk, system) within `since`, with their latest values."""
    return await service.get_fleet(influx, since=parse_duration(since, "since", MAX_FLEET_SINCE))
