"""GET /api/v1/overview: every figure counted over whole hours, open incidents by severity, the noisiest
sources, exhaustion predictions, and store health that never fails the answer."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from aiops_api.auth.tokens import Role
from aiops_api.main import create_app
from aiops_contracts.db import Alert, Forecast, Incident, LogTemplate, LogTemplateCount, ProcessedEvent
from aiops_contracts.db.processed import ALERT_STORE_HANDLER

NOW = datetime.now(UTC)
HOUR = NOW.replace(minute=0, second=0, microsecond=0)


def alert(source: str, i: int, last_seen_at: datetime) -> Alert:
    return Alert(source=source, fingerprint=f"{source}-{i}", title=f"alert {i}", severity="high", status="firing",
                 host="web-1", first_seen_at=last_seen_at, last_seen_at=last_seen_at, last_event_id=f"{source}-{i}")


def incident(severity: str, status: str, last_seen_at: datetime) -> Incident:
    return Incident(group_key=f"alert:host:{uuid.uuid4()}", title="t", severity=severity, status=status,
                    event_count=1, hosts=[], services=[], details={}, first_seen_at=last_seen_at,
                    last_seen_at=last_seen_at)


@pytest.fixture
async def stored(sessions) -> None:
    """What the worker would have stored: 3 alert events this hour, 2 five hours ago, 4 two days ago (outside
    the default window); alerts of three sources; incidents in every state; log counts; one forecast."""
    events = [(HOUR + timedelta(seconds=i), f"now-{i}") for i in range(3)]
    events += [(HOUR - timedelta(hours=5), f"h5-{i}") for i in range(2)]
    events += [(HOUR - timedelta(days=2), f"old-{i}") for i in range(4)]
    alerts = [alert("nagios", i, HOUR) for i in range(3)] + [alert("zabbix", i, HOUR) for i in range(2)]
    alerts += [alert("sentry", 0, HOUR - timedelta(hours=3)), alert("old", 0, HOUR - timedelta(days=2))]
    async with sessions.begin() as session:
        session.add_all(ProcessedEvent(event_id=event_id, handler=ALERT_STORE_HANDLER, handled_at=at)
                        for at, event_id in events)
        session.add(ProcessedEvent(event_id="log-batch", handler="logs-mining", handled_at=HOUR))  # not an alert
        session.add_all(alerts)
        session.add_all([incident("high", "open", HOUR), incident("high", "acknowledged", HOUR),
                         incident("critical", "open", HOUR - timedelta(days=3)),
                         incident("medium", "resolved", HOUR - timedelta(hours=1))])
        session.add(LogTemplate(id="t1", template="disk <*> full", severity="high", count=30,
                                first_seen_at=HOUR, last_seen_at=HOUR))
        await session.flush()
        session.add_all([LogTemplateCount(template_id="t1", bucket_start=HOUR, count=20),
                         LogTemplateCount(template_id="t1", bucket_start=HOUR - timedelta(days=2), count=10)])
        session.add(Forecast(series_key="disk,host=web-1 used_percent", measurement="disk",
                                   field="used_percent", host="web-1", tags={}, threshold=95.0, method="linear",
                                   last_value=80.0, last_point_at=HOUR, computed_at=HOUR, forecast=[],
                                   exhausts_at=HOUR + timedelta(days=2)))


async def test_overview_counts_the_window(client, auth, stored) -> None:
    response = await client.get("/api/v1/overview", headers=auth(Role.viewer))
    assert response.status_code == 200
    body = response.json()
    assert datetime.fromisoformat(body["window_start"]) == HOUR - timedelta(hours=23)
    assert body["open_incidents_by_severity"] == {"critical": 1, "high": 2, "medium": 0, "low": 0, "info": 0}
    volume = body["alert_volume"]
    assert len(volume) == 24 and datetime.fromisoformat(volume[-1]["bucket_start"]) == HOUR
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
