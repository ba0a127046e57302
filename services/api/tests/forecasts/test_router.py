"""Forecast routes on a real PostgreSQL: a metric's forecast cut at the horizon, exhaustion predictions."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.auth.tokens import Role
from aiops_contracts.db import Forecast

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = 3600


@pytest.fixture
def host() -> str:
    return f"web-{uuid.uuid4().hex[:6]}"


def _forecast_row(host: str, path: str, hours_left: float | None) -> Forecast:
    last = NOW - timedelta(minutes=10)
    exhausts = last + timedelta(hours=hours_left) if hours_left is not None else None
    points = [[last.timestamp() + h * HOUR, 80.0 + h * 0.1, 79.0 + h * 0.05, 81.0 + h * 0.15]
              for h in range(1, 24 * 10)]
    return Forecast(
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
    answer = await client.get("/api/v1/forecasts/exhaustion", headers=auth(Role.viewer))

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["host"], i["tags"]["path"]) for i in items] == [(forecasts, "/"), (forecasts, "/var"), ("db-1", "/")]
    assert items[0]["exhausts_earliest"] < items[0]["exhausts_at"] < items[0]["exhausts_latest"]
    only_db = await client.get("/api/v1/forecasts/exhaustion", headers=auth(Role.viewer), params={"host": "db-1"})
    assert [i["host"] for i in only_db.json()["items"]] == ["db-1"]


async def test_forecast_is_cut_at_the_horizon(client: httpx.AsyncClient, auth: Callable, forecasts: str) -> None:
    answer = await client.get("/api/v1/forecasts", headers=auth(Role.viewer),
                              params={"measurement": "disk", "field": "used_percent", "host": forecasts,
                                      "horizon": "2d"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["horizon_hours"] == 48 and len(body["items"]) == 3
    points = body["items"][0]["points"]
    assert len(points) == 48 and all(p["lower"] <= p["value"] <= p["upper"] for p in points)
    default = await client.get("/api/v1/forecasts", headers=auth(Role.viewer),
                               params={"measurement": "disk", "field": "used_percent", "host": forecasts})
    assert len(default.json()["items"][0]["points"]) == 24 * 7


@pytest.mark.parametrize("horizon", ["7", "7 days", "0d", "1000d", "-1d", "7d; DROP"])
async def test_forecast_bad_horizon_is_400(client: httpx.AsyncClient, auth: Callable, forecasts: str,
                                           horizon: str) -> None:
    answer = await client.get("/api/v1/forecasts", headers=auth(Role.viewer),
                              params={"measurement": "disk", "field": "used_percent", "horizon": horizon})
    assert answer.status_code == 400 and "horizon" in answer.json()["detail"]


async def test_forecast_of_an_unknown_series_is_404(client: httpx.AsyncClient, auth: Callable) -> None:
    answer = await client.get("/api/v1/forecasts", headers=auth(Role.viewer),
                              params={"measurement": "net", "field": "bytes_recv"})
    assert answer.status_code == 404 and "FORECAST_CAPACITY_RULES" in answer.json()["detail"]
