"""Anomaly queries: the anomaly scores the worker's detector writes to InfluxDB (the API only reads).

InfluxQL here is a constant text with `$name` placeholders: every value the caller gives (host,
measurement, field, times, score) travels in `params`, never in the statement.
"""

from datetime import UTC, datetime, timedelta

from aiops_api.anomalies.schemas import AnomalyList, AnomalyPointRead
from aiops_api.errors import BadRequest
from aiops_contracts.influx import ANOMALIES_MEASUREMENT, DatabaseNotFound, InfluxClient, quote_ident

MAX_ANOMALY_POINTS = 5_000
MAX_ANOMALY_SPAN = timedelta(days=31)
_ANOMALY_COLUMNS = ("score", "value", "baseline", "deviation", "z", "severity", "transition",
                    "host", "measurement", "field", "series")
# Tag filters the caller may set, by query parameter name (the tag keys are our own constants).
_ANOMALY_FILTERS = ("host", "measurement", "field")


def _anomaly_query(filters: dict[str, str]) -> str:
    # InfluxQL cannot bind identifiers: they pass quote_ident (our own constants); every value is a bound $param.
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


def _rfc3339(moment: datetime) -> str:
    """An aware time (the router's InfluxTime makes naive ones UTC) as InfluxDB's RFC 3339."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
