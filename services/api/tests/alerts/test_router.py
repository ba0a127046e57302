"""GET /api/v1/alerts: filters, cursor pagination, detail, and the acknowledge/resolve transitions."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aiops_api.alerts.schemas import AlertRead
from aiops_api.auth.tokens import Role
from aiops_contracts.db import Alert, AuditEntry

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def stored_alerts(sessions) -> list[Alert]:
    """25 alerts, one a minute, alternating severity and source (what the worker would have stored)."""
    rows = [
        Alert(source="nagios" if i % 2 else "zabbix", fingerprint=f"fp-{i}", title=f"alert {i}",
              severity="critical" if i % 5 == 0 else "medium", status="resolved" if i == 3 else "firing",
              host=f"web-{i % 3}", service="checkout", first_seen_at=T0 + timedelta(minutes=i),
              last_seen_at=T0 + timedelta(minutes=i), last_event_id=f"e{i}")
        for i in range(25)
    ]
    async with sessions.begin() as session:
        session.add_all(rows)
    return rows


async def test_list_is_newest_first_with_cursor_pages(client, auth, stored_alerts) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/alerts", params=params, headers=auth(Role.viewer))).json()
        seen += [a["fingerprint"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"fp-{i}" for i in reversed(range(25))]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severity": "critical"}, {0, 5, 10, 15, 20}),
        ({"severity": ["critical", "medium"], "source": "nagios", "host": "web-1"}, {1, 7, 13, 19}),
        ({"status": "resolved"}, {3}),
        ({"since": (T0 + timedelta(minutes=20)).isoformat(), "until": (T0 + timedelta(minutes=22)).isoformat()}, {20, 21}),
        ({"service": "other"}, set()),
    ],
)
async def test_filters(client, auth, stored_alerts, params, expected) -> None:
    response = await client.get("/api/v1/alerts", params={**params, "limit": 100}, headers=auth(Role.viewer))
    assert response.status_code == 200
    assert {int(a["fingerprint"][3:]) for a in response.json()["items"]} == expected


@pytest.mark.parametrize("host", ["db-1", "DB-1", "db-1.prod.example.com", "db-1:9187"])
async def test_host_filter_compares_host_names(client, auth, sessions, host) -> None:
    """Correlation's host names: the labels of one host are all found, whichever of them is asked for."""
    labels = ["db-1.prod.example.com", "DB-1", "db-1", "db-10", "db-2.prod.example.com", None]
    async with sessions.begin() as session:
        session.add_all(Alert(source="nagios", fingerprint=f"fp-{i}", title=f"alert {i}", severity="high",
                              status="firing", host=label, first_seen_at=T0, last_seen_at=T0 + timedelta(minutes=i),
                              last_event_id=f"e{i}") for i, label in enumerate(labels))
    response = await client.get("/api/v1/alerts", params={"host": host}, headers=auth(Role.viewer))
    assert response.status_code == 200
    assert [a["host"] for a in response.json()["items"]] == ["db-1", "DB-1", "db-1.prod.example.com"]


@pytest.mark.parametrize("path", ["/api/v1/alerts", "/api/v1/incidents"])
@pytest.mark.parametrize("host", [".", " ", ":80"])
async def test_a_host_filter_naming_no_host_is_refused(client, auth, path, host) -> None:
    """Dropping it would list everything: the label is refused, named."""
    response = await client.get(path, params={"host": host}, headers=auth(Role.viewer))
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [(["host"], "Value error, not a host name")]


@pytest.mark.parametrize("params", [{"severity": "huge"}, {"limit": 0}, {"limit": 10_000}, {"since": "soon"},
                                    {"cursor": "not-a-cursor"}])
async def test_bad_query_parameters_are_4xx(client, auth, stored_alerts, params) -> None:
    response = await client.get("/api/v1/alerts", params=params, headers=auth(Role.viewer))
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


async def test_detail_and_404(client, auth, stored_alerts) -> None:
    alert = stored_alerts[4]
    response = await client.get(f"/api/v1/alerts/{alert.id}", headers=auth(Role.viewer))
    assert response.json()["title"] == "alert 4"
    missing = await client.get("/api/v1/alerts/00000000-0000-0000-0000-000000000000", headers=auth(Role.viewer))
    assert missing.status_code == 404
    assert "not found" in missing.json()["detail"]


async def test_list_items_are_the_details_fields_and_values(client, auth, stored_alerts) -> None:
    """A list item carries AlertRead's fields, in its order (no column the model does not declare), with the
    detail's values."""
    items = (await client.get("/api/v1/alerts", params={"limit": 3}, headers=auth(Role.viewer))).json()["items"]
    for item in items:
        detail = (await client.get(f"/api/v1/alerts/{item['id']}", headers=auth(Role.viewer))).json()
        assert list(item) == list(detail) == list(AlertRead.model_fields)
        assert item == detail


async def test_acknowledge_and_resolve_are_audited(client, auth, stored_alerts, sessions) -> None:
    alert = stored_alerts[1]
    forbidden = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=auth(Role.viewer))
    assert forbidden.status_code == 403
    acked = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=auth(Role.operator))
    assert acked.json()["status"] == "acknowledged"
    resolved = await client.post(f"/api/v1/alerts/{alert.id}/resolve", headers=auth(Role.operator))
    assert resolved.json()["status"] == "resolved"
    again = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=auth(Role.operator))
    assert again.status_code == 409
    async with sessions() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(e.actor, e.action, e.before, e.after) for e in entries] == [
        ("test-operator", "alert.acknowledged", {"status": "firing"}, {"status": "acknowledged"}),
        ("test-operator", "alert.resolved", {"status": "acknowledged"}, {"status": "resolved"}),
    ]


async def test_requires_a_valid_token(client, stored_alerts) -> None:
    assert (await client.get("/api/v1/alerts")).status_code == 401
    assert (await client.get("/api/v1/alerts", headers={"Authorization": "Bearer forged"})).status_code == 401


async def test_incidents_list_shape(client, auth) -> None:
    response = await client.get("/api/v1/incidents", headers=auth(Role.viewer))
    assert response.json() == {"items": [], "next_cursor": None}
