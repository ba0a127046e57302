"""Anomaly routes on a real InfluxDB: filters, ranges, times, injection attempts."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from aiops_api.auth.tokens import Role
from aiops_api.settings import ApiSettings
from aiops_contracts.influx import ANOMALIES_MEASUREMENT, InfluxClient, encode_point

NOW = datetime.now(UTC).replace(microsecond=0)


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

    answer = await client.get("/api/v1/anomalies", headers=auth(Role.viewer),
                              params={"host": host, "measurement": "cpu", "field": "usage_user"})

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["score"] for i in items] == [0.55, 0.9]  # newest first; the 30-hour-old one is out of range
    assert items[0]["series"] == f"cpu,host={host} usage_user" and items[0]["baseline"] == 20.0
    wider = await client.get("/api/v1/anomalies", headers=auth(Role.viewer),
                             params={"host": host, "start": (NOW - timedelta(days=2)).isoformat(), "min_score": 0.6})
    assert sorted(i["score"] for i in wider.json()["items"]) == [0.7, 0.8, 0.9]


@pytest.mark.parametrize("host_value", ["x' OR 1=1 --", 'x" OR "a"="a', "x\\' OR time > 0", "$start"])
async def test_anomaly_filter_values_are_bound_not_pasted(client: httpx.AsyncClient, auth: Callable,
                                                          influx: InfluxClient, host: str, host_value: str) -> None:
    await _write_anomalies(influx, host)

    answer = await client.get("/api/v1/anomalies", headers=auth(Role.viewer), params={"host": host_value})

    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []


@pytest.mark.parametrize("name", ['cpu" WHERE 1=1 --', "cpu; DROP DATABASE aiops", "cpu'", "", "a b"])
async def test_identifier_injection_is_refused_with_400(client: httpx.AsyncClient, auth: Callable,
                                                        influx: InfluxClient, name: str) -> None:
    for path, params in (("/api/v1/anomalies", {"measurement": name}),
                         ("/api/v1/anomalies", {"field": name}),
                         ("/api/v1/forecasts", {"measurement": name, "field": "used_percent"})):
        answer = await client.get(path, headers=auth(Role.viewer), params=params)
        assert answer.status_code in (400, 422), answer.text
        assert "measurement" in answer.text or "field" in answer.text
    assert (await influx.query("SHOW MEASUREMENTS")) is not None  # the database is still there


async def test_anomalies_bad_ranges_and_roles(client: httpx.AsyncClient, auth: Callable) -> None:
    url = "/api/v1/anomalies"
    reversed_range = await client.get(url, headers=auth(Role.viewer),
                                      params={"start": NOW.isoformat(), "end": (NOW - timedelta(hours=1)).isoformat()})
    assert reversed_range.status_code == 400 and "start" in reversed_range.json()["detail"]
    too_wide = await client.get(url, headers=auth(Role.viewer),
                                params={"start": (NOW - timedelta(days=60)).isoformat()})
    assert too_wide.status_code == 400
    assert (await client.get(url)).status_code == 401


@pytest.mark.parametrize(("params", "name"), [
    ({"start": "0001-01-01T00:00:00"}, "start"),
    ({"end": "0001-01-01T00:00:00Z"}, "end"),
    ({"start": "0001-01-01T00:00:00+05:00", "end": "2026-01-01T00:00:00Z"}, "start"),
    ({"start": "2026-01-01T00:00:00", "end": "9999-12-31T23:59:59-05:00"}, "end"),
])
async def test_times_influxdb_cannot_hold_get_422_naming_them(client: httpx.AsyncClient, auth: Callable,
                                                              params: dict, name: str) -> None:
    answer = await client.get("/api/v1/anomalies", headers=auth(Role.viewer), params=params)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["query", name] and "1678-01-01" in error["msg"]


async def test_a_naive_start_with_an_aware_end_reads_the_naive_one_as_utc(client: httpx.AsyncClient, auth: Callable,
                                                                          influx: InfluxClient, host: str) -> None:
    await _write_anomalies(influx, host)
    start = (NOW - timedelta(hours=2)).replace(tzinfo=None).isoformat()
    end = NOW.astimezone(timezone(timedelta(hours=2))).isoformat()

    answer = await client.get("/api/v1/anomalies", headers=auth(Role.viewer),
                              params={"host": host, "start": start, "end": end})

    assert answer.status_code == 200, answer.text
    assert [i["score"] for i in answer.json()["items"]] == [0.7, 0.55, 0.9]


@pytest.mark.parametrize("min_score", ["5e-324", "1e-5", "1E-300"])
async def test_a_min_score_in_exponent_form_is_read_not_refused(client: httpx.AsyncClient, auth: Callable,
                                                                influx: InfluxClient, host: str,
                                                                min_score: str) -> None:
    """InfluxDB reads a bound number without a "." as an integer: 5e-324 once made it answer 400 (our 500)."""
    await _write_anomalies(influx, host)

    answer = await client.get("/api/v1/anomalies", headers=auth(Role.viewer),
                              params={"host": host, "min_score": min_score})

    assert answer.status_code == 200, answer.text
    assert [i["score"] for i in answer.json()["items"]] == [0.7, 0.55, 0.9]
