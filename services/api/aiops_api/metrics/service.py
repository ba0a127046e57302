"""Metric queries on InfluxDB: one host's series of a measurement's field, aggregated per window,
and the fleet (hosts seen, last seen, latest key metrics).

InfluxQL here is constant text with `$name` placeholders: host and times travel in `params`.
Measurement and field names cannot be bound, so they pass the strict `quote_ident` whitelist; the
aggregation is an enum member and the window a whole number of seconds.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiops_api.errors import BadRequest
from aiops_api.metrics.schemas import FleetRead, HostRead, SeriesPoint, SeriesQuery, SeriesRead
from aiops_contracts.influx import (
    DatabaseNotFound,
    InfluxClient,
    InfluxError,
    InfluxSeries,
    NonFiniteResult,
    quote_ident,
)

MAX_POINTS = 10_000  # windows per series answer
MAX_SPAN = timedelta(days=90)  # the retention: nothing older exists
DEFAULT_SPAN = timedelta(hours=1)


@dataclass(frozen=True)
class KeyMetric:
    """A fleet column: the latest `field` of `measurement` per host (the highest over `per` instances)."""

    name: str
    measurement: str
    field: str
    where: tuple[tuple[str, str], ...] = ()
    per: str | None = None
    from_idle: bool = False  # the field is an idle percentage: used = 100 - idle


KEY_METRICS = (
    KeyMetric("cpu_used_percent", "cpu", "usage_idle", where=(("cpu", "cpu-total"),), from_idle=True),
    KeyMetric("mem_used_percent", "mem", "used_percent"),
    KeyMetric("disk_used_percent", "disk", "used_percent", per="path"),
    KeyMetric("load1", "system", "load1"),
)


async def get_series(influx: InfluxClient, *, query: SeriesQuery) -> SeriesRead:
    end = query.end or datetime.now(UTC)  # aware: the router's InfluxTime makes naive times UTC
    start = query.start or end - DEFAULT_SPAN
    if start >= end:
        raise BadRequest("start: must be before end")
    if end - start > MAX_SPAN:
        raise BadRequest(f"start: the range may span at most {MAX_SPAN.days} days")
    window_s = int(query.window.total_seconds())
    if (end - start).total_seconds() / window_s > MAX_POINTS:
        raise BadRequest(f"window: more than {MAX_POINTS} windows in the range, choose a larger window")
    statement = (f'SELECT {query.agg.value}({quote_ident(query.field)}) AS "value" '
                 f'FROM {quote_ident(query.measurement)} WHERE "host" = $host AND time >= $start AND time < $end '
                 f"GROUP BY time({window_s}s) fill(none)")
    try:
        series = await _query(influx, statement, {"host": query.host, "start": _ns(start), "end": _ns(end)})
    except NonFiniteResult as exc:  # e.g. the mean or sum of two 1e308 points: InfluxDB answers nothing at all
        raise BadRequest(f"agg: the {query.agg.value} of a {window_s} s window in the range is beyond the float "
                         "range, which InfluxDB cannot answer; choose max, min, first, last or count") from exc
    points = [SeriesPoint(time=_from_ms(t), value=v) for s in series for t, v in s.values]
    return SeriesRead(host=query.host, measurement=query.measurement, field=query.field, agg=query.agg,
                      window_seconds=window_s, start=start, end=end, points=points)


async def get_fleet(influx: InfluxClient, *, since: timedelta) -> FleetRead:
    start = datetime.now(UTC) - since
    latest = await asyncio.gather(*(_latest_per_host(influx, metric, start) for metric in KEY_METRICS))
    hosts: dict[str, dict] = {}
    for metric, per_host in zip(KEY_METRICS, latest, strict=True):
        for host, (time_ms, value) in per_host.items():
            entry = hosts.setdefault(host, {"host": host, "last_seen": time_ms})
            entry["last_seen"] = max(entry["last_seen"], time_ms)
            entry[metric.name] = 100.0 - value if metric.from_idle else value
    return FleetRead(since=start, hosts=[HostRead(**{**h, "last_seen": _from_ms(h["last_seen"])})
                                         for _, h in sorted(hosts.items())])


async def _latest_per_host(influx: InfluxClient, metric: KeyMetric, start: datetime) -> dict[str, tuple[int, float]]:
    conditions = ["time >= $start", *(f"{quote_ident(tag)} = $tag{i}" for i, (tag, _) in enumerate(metric.where))]
    group = ", ".join(quote_ident(tag) for tag in ("host", metric.per) if tag)
    statement = (f'SELECT last({quote_ident(metric.field)}) AS "value" FROM {quote_ident(metric.measurement)} '
                 f"WHERE {' AND '.join(conditions)} GROUP BY {group}")
    params = {"start": _ns(start), **{f"tag{i}": value for i, (_, value) in enumerate(metric.where)}}
    latest: dict[str, tuple[int, float]] = {}
    for series in await _query(influx, statement, params):
        host = series.tags.get("host")
        for time_ms, value in series.values:
            if not host or not isinstance(value, int | float):
                continue
            seen = latest.get(host)
            latest[host] = (max(time_ms, seen[0]), max(value, seen[1])) if seen else (time_ms, float(value))
    return latest


async def _query(influx: InfluxClient, statement: str, params: dict) -> list[InfluxSeries]:
    try:
        return await influx.query(statement, params, epoch="ms")
    except DatabaseNotFound:  # nothing written yet
        return []
    except NonFiniteResult:  # the caller names what overflowed
        raise
    except InfluxError as exc:  # e.g. mean() of a string field
        raise BadRequest(f"query: InfluxDB refused it: {exc}") from exc


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1_000


def _from_ms(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, UTC)
