"""GET /api/v1/overview: every figure counted over whole hours, open incidents by severity, the noisiest
sources, exhaustion predictions, and store health that never fails the answer."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from aiops_api.auth.tokens import Role
from aiops_api.main import create_app
from aiops_contracts.db import Alert, Forecast, Incident, LogTemplate, LogTemplateCount, ProcessedEvent
from aiops_contracts.db.processed import ALERT_STORE_HANDLER


@pytest.fixture
async def hour() -> datetime:
    """The start of the current hour, the one the API's window ends in. Close to the next hour, wait for it, so
    the data seeded around it and the request fall in the same hour."""
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0)
    if start + timedelta(hours=1) - now < timedelta(seconds=30):
        await asyncio.sleep((start + timedelta(hours=1) - now).total_seconds() + 0.1)
        start += timedelta(hours=1)
    return start


def alert(source: str, i: int, last_seen_at: datetime) -> Alert:
    return Alert(source=source, fingerprint=f"{source}-{i}", title=f"alert {i}", severity="high", status="firing",
                 host="web-1", first_seen_at=last_seen_at, last_seen_at=last_seen_at, last_event_id=f"{source}-{i}")


def incident(severity: str, status: str, last_seen_at: datetime) -> Incident:
    return Incident(group_key=f"alert:host:{uuid.uuid4()}", title="t", severity=severity, status=status,
                    event_count=1, hosts=[], services=[], details={}, first_seen_at=last_seen_at,
                    last_seen_at=last_seen_at)


@pytest.fixture
async def stored(sessions, hour: datetime) -> None:
    """What the worker would have stored: 3 alert events this hour, 2 five hours ago, 4 two days ago (outside
    the default window); alerts of three sources; incidents in every state; log counts; one forecast."""
    events = [(hour + timedelta(seconds=i), f"now-{i}") for i in range(3)]
    events += [(hour - timedelta(hours=5), f"h5-{i}") for i in range(2)]
    events += [(hour - timedelta(days=2), f"old-{i}") for i in range(4)]
    alerts = [alert("nagios", i, hour) for i in range(3)] + [alert("zabbix", i, hour) for i in range(2)]
    alerts += [alert("sentry", 0, hour - timedelta(hours=3)), alert("old", 0, hour - timedelta(days=2))]
    async with sessions.begin() as session:
        session.add_all(ProcessedEvent(event_id=event_id, handler=ALERT_STORE_HANDLER, handled_at=at)
                        for at, event_id in events)
        session.add(ProcessedEvent(event_id="log-batch", handler="logs-mining", handled_at=hour))  # not an alert
        session.add_all(alerts)
        session.add_all([incident("high", "open", hour), incident("high", "acknowledged", hour),
                         incident("critical", "open", hour - timedelta(days=3)),
                         incident("medium", "resolved", hour - timedelta(hours=1))])
        session.add(LogTemplate(id="t1", template="disk <*> full", severity="high", count=30,
                                first_seen_at=hour, last_seen_at=hour))
        await session.flush()
        session.add_all([LogTemplateCount(template_id="t1", bucket_start=hour, count=20),
                         LogTemplateCount(template_id="t1", bucket_start=hour - timedelta(days=2), count=10)])
        session.add(Forecast(series_key="disk,host=web-1 used_percent", measurement="disk",
                                   field="used_percent", host="web-1", tags={}, threshold=95.0, method="linear",
                                   last_value=80.0, last_point_at=hour, computed_at=hour, forecast=[],
                                   exhausts_at=hour + timedelta(days=2)))


async def test_overview_counts_the_window(client, auth, stored, hour: datetime) -> None:
    response = await client.get("/api/v1/overview", headers=auth(Role.viewer))
    assert response.status_code == 200
    body = response.json()
    assert datetime.fromisoformat(body["window_start"]) == hour - timedelta(hours=23)
    assert body["open_incidents_by_severity"] == {"critical": 1, "high": 2, "medium": 0, "low": 0, "info": 0}
    volume = body["alert_volume"]
    assert len(volume) == 24 and datetime.fromisoformat(volume[-1]["bucket_start"]) == hour
    assert [b["count"] for b in volume] == [0] * 18 + [2] + [0] * 4 + [3]
    assert body["noise_reduction"] == {"events": 25, "alert_events": 5, "log_lines": 20, "alerts": 6,
                                       "incidents": 3}
    assert body["top_sources"] == [{"source": "nagios", "alerts": 3}, {"source": "zabbix", "alerts": 2},
                                   {"source": "sentry", "alerts": 1}]
    assert [e["series_key"] for e in body["exhaustion"]] == ["disk,host=web-1 used_percent"]
    assert {s["name"]: s["ok"] for s in body["stores"]} == {"redis": True, "postgres": True, "influxdb": True,
                                                            "chromadb": True}


async def test_a_longer_window_reaches_older_events(client, auth, stored) -> None:
    body = (await client.get("/api/v1/overview", params={"hours": 72}, headers=auth(Role.viewer))).json()
    assert len(body["alert_volume"]) == 72
    assert body["noise_reduction"]["alert_events"] == 9 and body["noise_reduction"]["log_lines"] == 30
    assert {"source": "old", "alerts": 1} in body["top_sources"]


@pytest.mark.parametrize("hours", [0, 169, "day"])
async def test_window_out_of_bounds_is_422(client, auth, hours) -> None:
    response = await client.get("/api/v1/overview", params={"hours": hours}, headers=auth(Role.viewer))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "hours"]


async def test_overview_needs_a_token(client) -> None:
    assert (await client.get("/api/v1/overview")).status_code == 401


@pytest.fixture
async def app_without_influx(api_settings, clean_db, redis) -> FastAPI:
    app = create_app(api_settings.model_copy(update={"influx_url": "http://127.0.0.1:9"}))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_store_down_shows_in_stores_without_failing_the_answer(app_without_influx, auth) -> None:
    transport = httpx.ASGITransport(app=app_without_influx)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/overview", headers=auth(Role.viewer))
    assert response.status_code == 200
    stores = {s["name"]: s for s in response.json()["stores"]}
    assert not stores["influxdb"]["ok"] and stores["influxdb"]["detail"].startswith("error")
    assert stores["postgres"]["ok"] and stores["redis"]["ok"]
