"""GET /api/v1/metrics/series and /fleet on a real InfluxDB, and attempts to inject InfluxQL through them."""

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from aiops_api.auth.tokens import Role
from aiops_api.main import create_app

NOW_NS = (time.time_ns() // 10**10) * 10**10  # on a 10 s boundary: windows hold whole samples
MINUTE_NS = 60 * 10**9


def telegraf_lines() -> str:
    """Ten minutes of 10 s samples from two hosts, as Telegraf's cpu/mem/disk/system inputs write them."""
    lines = []
    for step in range(60):
        at = NOW_NS - (59 - step) * 10**10
        for host, idle in (("web-1", 90.0), ("web-2", 40.0)):
            lines += [f"cpu,cpu=cpu-total,host={host} usage_idle={idle + step % 2},usage_user=5 {at}",
                      f"cpu,cpu=cpu0,host={host} usage_idle=1.0 {at}",
                      f"mem,host={host} used_percent={20 + step / 10},total=1000i {at}",
                      f"disk,host={host},path=/ used_percent=30.0 {at}",
                      f"disk,host={host},path=/var used_percent={50 + step / 10} {at}",
                      f"system,host={host} load1=0.5 {at}"]
    return "\n".join(lines)


@pytest.fixture
async def metrics_app(api_settings, clean_db, redis) -> AsyncIterator[FastAPI]:
    """The app on an InfluxDB database of this test's own, written the way the metrics writer does."""
    settings = api_settings.model_copy(update={"influx_database": f"{api_settings.influx_database}_metrics"})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app
        await app.state.influx.query(f'DROP DATABASE "{settings.influx_database}"')


@pytest.fixture
async def api(metrics_app: FastAPI, auth) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=metrics_app), base_url="http://test",
                                 headers=auth(Role.viewer)) as client:
        yield client


@pytest.fixture
async def metrics(metrics_app: FastAPI) -> None:
    influx = metrics_app.state.influx
    await influx.ensure_database(retention_days=90)
    await influx.write(telegraf_lines())


def series_params(**overrides: str) -> dict[str, str]:
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((NOW_NS - 10 * MINUTE_NS) / 1e9))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((NOW_NS + 10**10) / 1e9))
    return {"host": "web-1", "measurement": "cpu", "field": "usage_idle", "start": start, "end": end,
            "window": "1m", **overrides}


async def test_series_is_aggregated_per_window(api, metrics) -> None:
    response = await api.get("/api/v1/metrics/series", params=series_params())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["window_seconds"], body["agg"]) == (60, "mean")
    assert 10 <= len(body["points"]) <= 11
    # cpu0 (idle 1.0) shares the host: the series mixes every cpu unless the caller narrows it down
    assert all(0 < p["value"] < 91 for p in body["points"])
    top = await api.get("/api/v1/metrics/series", params=series_params(agg="max", window="1h"))
    assert max(p["value"] for p in top.json()["points"]) == 91.0


async def test_fleet_lists_hosts_with_their_latest_key_metrics(api, metrics) -> None:
    response = await api.get("/api/v1/metrics/fleet", params={"since": "1h"})
    assert response.status_code == 200, response.text
    hosts = {h["host"]: h for h in response.json()["hosts"]}
    assert sorted(hosts) == ["web-1", "web-2"]
    web1 = hosts["web-1"]
    assert web1["cpu_used_percent"] == pytest.approx(100 - 91.0)  # cpu-total only, the last sample
    assert web1["mem_used_percent"] == pytest.approx(25.9)
    assert web1["disk_used_percent"] == pytest.approx(55.9)  # the fullest path
    assert web1["load1"] == 0.5
    assert web1["last_seen"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(NOW_NS / 1e9)))


async def test_nothing_written_yet_is_an_empty_answer(api) -> None:
    assert (await api.get("/api/v1/metrics/series", params=series_params())).json()["points"] == []
    assert (await api.get("/api/v1/metrics/fleet")).json()["hosts"] == []


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"measurement": 'cpu" WHERE 1=1; DROP DATABASE "x'}, 400),
        ({"field": 'usage_idle") FROM "cpu"; DROP MEASUREMENT "cpu'}, 400),
        ({"field": "usage_idle\nDROP"}, 400),
        ({"window": '1m) fill(0); DROP DATABASE "x"; SELECT (1'}, 400),
        ({"agg": "mean(usage_idle)) FROM cpu; DROP MEASUREMENT cpu; SELECT mean"}, 422),
        ({"window": "1s"}, 400),  # windows come in minutes or more
        ({"start": "2026-01-01T00:00:00Z", "window": "1m"}, 400),  # more than 10,000 windows
    ],
)
async def test_injection_attempts_are_refused_and_change_nothing(api, metrics, override, status) -> None:
    response = await api.get("/api/v1/metrics/series", params=series_params(**override))
    assert response.status_code == status
    assert response.json()["detail"]
    fleet = (await api.get("/api/v1/metrics/fleet", params={"since": "1h"})).json()
    assert len(fleet["hosts"]) == 2  # the data is still there


async def test_values_are_bound_never_pasted(api, metrics) -> None:
    response = await api.get("/api/v1/metrics/series", params=series_params(host="web-1' OR '1'='1"))
    assert response.status_code == 200
    assert response.json()["points"] == []  # a host of that literal name does not exist
    since = await api.get("/api/v1/metrics/fleet", params={"since": "1h; DROP DATABASE x"})
    assert since.status_code == 400


async def test_metrics_need_a_signed_in_user(metrics_app) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=metrics_app), base_url="http://test") as client:
        assert (await client.get("/api/v1/metrics/fleet")).status_code == 401


@pytest.mark.parametrize(("times", "name"), [
    ({"start": "0001-01-01T00:00:00"}, "start"),
    ({"start": "2026-01-01T00:00:00Z", "end": "0001-01-01T00:00:00+01:00"}, "end"),
    ({"end": "0001-01-01T00:00:00Z"}, "end"),
])
async def test_times_influxdb_cannot_hold_get_422_naming_them(api, times: dict, name: str) -> None:
    params = {k: v for k, v in series_params(**times).items() if k not in ("start", "end") or k in times}
    response = await api.get("/api/v1/metrics/series", params=params)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", name] and "1678-01-01" in error["msg"]


async def test_a_naive_start_with_an_aware_end_reads_the_naive_one_as_utc(api, metrics) -> None:
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((NOW_NS - 10 * MINUTE_NS) / 1e9))
    end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime((NOW_NS + 10**10) / 1e9))
    response = await api.get("/api/v1/metrics/series", params=series_params(start=start, end=end))
    assert response.status_code == 200, response.text
    assert response.json()["start"].endswith(("Z", "+00:00")) and 10 <= len(response.json()["points"]) <= 11


async def test_a_window_whose_aggregate_is_beyond_the_float_range_is_a_400_naming_it(api, metrics_app, metrics) -> None:
    """Two 1e308 points in one window: their mean is +Inf, which InfluxDB 1.x cannot write in JSON; it answered only
    'json: unsupported value: +Inf', which the client could not parse (a 500). Now a 400 naming `agg`; max answers."""
    minute = (NOW_NS // MINUTE_NS - 5) * MINUTE_NS
    await metrics_app.state.influx.write(f"system,host=web-9 load1=1e+308 {minute}\n"
                                         f"system,host=web-9 load1=1e+308 {minute + 10**10}")
    params = series_params(host="web-9", measurement="system", field="load1")

    response = await api.get("/api/v1/metrics/series", params=params)

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("agg: the mean of a 60 s window in the range is beyond the float range")
    top = await api.get("/api/v1/metrics/series", params={**params, "agg": "max"})
    assert top.status_code == 200 and [p["value"] for p in top.json()["points"]] == [1e308]
