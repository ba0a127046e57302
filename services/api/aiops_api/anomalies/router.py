"""HTTP routes of anomalies: the anomaly scores of metric series."""

from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.anomalies import service
from aiops_api.anomalies.schemas import AnomalyList
from aiops_api.deps import InfluxDep, Viewer
from aiops_api.metrics.params import EndTime, Name, StartTime, check_identifier

router = APIRouter(prefix="/api/v1/anomalies", tags=["anomalies"])


@router.get("", operation_id="list_anomalies")
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
