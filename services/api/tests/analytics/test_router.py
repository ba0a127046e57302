"""Analytics routes on real InfluxDB and PostgreSQL: anomalies, forecasts, exhaustion, injection attempts."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.auth.tokens import Role
from aiops_api.settings import ApiSettings
from aiops_contracts.db import MetricForecast
from aiops_contracts.influx import ANOMALIES_MEASUREMENT, InfluxClient, encode_point

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = 3600


@pytest.fixture
async def influx(api_settings: ApiSettings, influx_database: str):
    client = InfluxClient(api_settings)
    yield client
    await client.aclose()


@pytest.fixture
def host() -> str:
    return f"web-{uuid.uuid4().hex[:6]}"


async def _write_anomalies(influx: InfluxClient, host: str) -> None:
    lines = []
    for minutes, measurement, field, score in ((50, "cpu", "usage_user", 0.9), (40, "cpu", "usage_user", 0.55),
                                               (30, "mem", "used_percent", 0.7), (60 * 30, "cpu", "usage_user", 0.8)):
        series = f"{measurement},host={host} {field}"
        tags = {"host": host, "measurement": measurement, "field": field, "series": series}
        fields = {"score": score, "value": 90.0, "baseline": 20.0, "deviation": 70.0, "z": 8.5}
        at = NOW - timedelta(minutes=minutes)
        lines.append(encode_point(ANOMALIES_MEASUREMENT, tags, fields, int(at.timestamp()) * 10**9))
    await influx.write("\n".join(lines))


async def test_anomalies_filter_by_series_and_time(client: httpx.AsyncClient, auth: Callable, influx: InfluxClient,
                                                   host: str) -> None:
    await _write_anomalies(influx, host)

    answer = await client.get("/api/v1/analytics/anomalies", headers=auth(Role.viewer),
                              params={"host": host, "measurement": "cpu", "field": "usage_user"})

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["score"] for i in items] == [0.55, 0.9]  # newest first; the 30-hour-old one is out of range
    assert items[0]["series"] == f"cpu,host={host} usage_user" and items[0]["baseline"] == 20.0
    wider = await client.get("/api/v1/analytics/anomalies", headers=auth(Role.viewer),
                             params={"host": host, "start": (NOW - timedelta(days=2)).isoformat(), "min_score": 0.6})
    assert sorted(i["score"] for i in wider.json()["items"]) == [0.7, 0.8, 0.9]


@pytest.mark.parametrize("host_value", ["x' OR 1=1 --", 'x" OR "a"="a', "x\\' OR time > 0", "$start"])
async def test_anomaly_filter_values_are_bound_not_pasted(client: httpx.AsyncClient, auth: Callable,
                                                          influx: InfluxClient, host: str, host_value: str) -> None:
    await _write_anomalies(influx, host)

    answer = await client.get("/api/v1/analytics/anomalies", headers=auth(Role.viewer), params={"host": host_value})

    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []


@pytest.mark.parametrize("name", ['cpu" WHERE 1=1 --', "cpu; DROP DATABASE aiops", "cpu'", "", "a b"])
async def test_identifier_injection_is_refused_with_400(client: httpx.AsyncClient, auth: Callable,
                                                        influx: InfluxClient, name: str) -> None:
    for path, params in (("/api/v1/analytics/anomalies", {"measurement": name}),
                         ("/api/v1/analytics/anomalies", {"field": name}),
                         ("/api/v1/analytics/forecast", {"measurement": name, "field": "used_percent"})):
        answer = await client.get(path, headers=auth(Role.viewer), params=params)
        assert answer.status_code in (400, 422), answer.text
        assert "measurement" in answer.text or "field" in answer.text
    assert (await influx.query("SHOW MEASUREMENTS")) is not None  # the database is still there


async def test_anomalies_bad_ranges_and_roles(client: httpx.AsyncClient, auth: Callable) -> None:
    url = "/api/v1/analytics/anomalies"
    reversed_range = await client.get(url, headers=auth(Role.viewer),
                                      params={"start": NOW.isoformat(), "end": (NOW - timedelta(hours=1)).isoformat()})
    assert reversed_range.status_code == 400 and "start" in reversed_range.json()["detail"]
    too_wide = await client.get(url, headers=auth(Role.viewer),
                                params={"start": (NOW - timedelta(days=60)).isoformat()})
    assert too_wide.status_code == 400
    assert (await client.get(url)).status_code == 401


def _forecast_row(host: str, path: str, hours_left: float | None) -> MetricForecast:
    last = NOW - timedelta(minutes=10)
    exhausts = last + timedelta(hours=hours_left) if hours_left is not None else None
    points = [[last.timestamp() + h * HOUR, 80.0 + h * 0.1, 79.0 + h * 0.05, 81.0 + h * 0.15]
              for h in range(1, 24 * 10)]
    return MetricForecast(
        series_key=f"disk,host={host},path={path} used_percent", measurement="disk", field="used_percent",
        host=host, tags={"host": host, "path": path}, threshold=95.0, method="trend", last_value=80.0,
        last_point_at=last, computed_at=NOW, forecast=points, exhausts_at=exhausts,
        exhausts_earliest=exhausts - timedelta(hours=5) if exhausts else None,
        exhausts_latest=exhausts + timedelta(hours=5) if exhausts else None, details={})


@pytest.fixture
async def forecasts(sessions: async_sessionmaker[AsyncSession], app, host: str) -> str:
    async with sessions.begin() as session:
        session.add_all([_forecast_row(host, "/var", 60), _forecast_row(host, "/", 20),
                         _forecast_row(host, "/data", None), _forecast_row("db-1", "/", 200)])
    return host


async def test_exhaustion_lists_predictions_most_urgent_first(client: httpx.AsyncClient, auth: Callable,
                                                              forecasts: str) -> None:
    answer = await client.get("/api/v1/analytics/exhaustion", headers=auth(Role.viewer))

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["host"], i["tags"]["path"]) for i in items] == [(forecasts, "/"), (forecasts, "/var"), ("db-1", "/")]
    assert items[0]["exhausts_earliest"] < items[0]["exhausts_at"] < items[0]["exhausts_latest"]
    only_db = await client.get("/api/v1/analytics/exhaustion", headers=auth(Role.viewer), params={"host": "db-1"})
    assert [i["host"] for i in only_db.json()["items"]] == ["db-1"]


async def test_forecast_is_cut_at_the_horizon(client: httpx.AsyncClient, auth: Callable, forecasts: str) -> None:
    answer = await client.get("/api/v1/analytics/forecast", headers=auth(Role.viewer),
                              params={"measurement": "disk", "field": "used_percent", "host": forecasts,
                                      "horizon": "2d"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["horizon_hours"] == 48 and len(body["items"]) == 3
    points = body["items"][0]["points"]
    assert len(points) == 48 and all(p["lower"] <= p["value"] <= p["upper"] for p in points)
    default = await client.get("/api/v1/analytics/forecast", headers=auth(Role.viewer),
                               params={"measurement": "disk", "field": "used_percent", "host": forecasts})
    assert len(default.json()["items"][0]["points"]) == 24 * 7


@pytest.mark.parametrize("horizon", ["7", "7 days", "0d", "1000d", "-1d", "7d; DROP"])
async def test_forecast_bad_horizon_is_400(client: httpx.AsyncClient, auth: Callable, forecasts: str,
                                           horizon: str) -> None:
    answer = await client.get("/api/v1/analytics/forecast", headers=auth(Role.viewer),
                              params={"measurement": "disk", "field": "used_percent", "horizon": horizon})
    assert answer.status_code == 400 and "horizon" in answer.json()["detail"]


async def test_forecast_of_an_unknown_series_is_404(client: httpx.AsyncClient, auth: Callable) -> None:
    answer = await client.get("/api/v1/analytics/forecast", headers=auth(Role.viewer),
                              params={"measurement": "net", "field": "bytes_recv"})
    assert answer.status_code == 404 and "FORECAST_CAPACITY_RULES" in answer.json()["detail"]


@pytest.mark.parametrize(("params", "name"), [
    ({"start": "0001-01-01T00:00:00"}, "start"),
    ({"end": "0001-01-01T00:00:00Z"}, "end"),
    ({"start": "0001-01-01T00:00:00+05:00", "end": "2026-01-01T00:00:00Z"}, "start"),
    ({"start": "2026-01-01T00:00:00", "end": "9999-12-31T23:59:59-05:00"}, "end"),
])
async def test_times_influxdb_cannot_hold_get_422_naming_them(client: httpx.AsyncClient, auth: Callable,
                                                              params: dict, name: str) -> None:
    answer = await client.get("/api/v1/analytics/anomalies", headers=auth(Role.viewer), params=params)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["query", name] and "1678-01-01" in error["msg"]


async def test_a_naive_start_with_an_aware_end_reads_the_naive_one_as_utc(client: httpx.AsyncClient, auth: Callable,
                                                                          influx: InfluxClient, host: str) -> None:
    await _write_anomalies(influx, host)
    start = (NOW - timedelta(hours=2)).replace(tzinfo=None).isoformat()
    end = NOW.astimezone(timezone(timedelta(hours=2))).isoformat()

    answer = await client.get("/api/v1/analytics/anomalies", headers=auth(Role.viewer),
                              params={"host": host, "start": start, "end": end})

    assert answer.status_code == 200, answer.text
    assert [i["score"] for i in answer.json()["items"]] == [0.7, 0.55, 0.9]
