"""POST /api/v1/incidents/{id}/acknowledge, /resolve and /reopen: roles, the transition rule, the audit log, the
timeline, and the announcement on the incidents stream and the live channel; an incident's alerts and the
list's filters."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from sqlalchemy import select, text

from aiops_api.auth.tokens import Role
from aiops_api.incidents.schemas import IncidentRead
from aiops_api.main import create_app
from aiops_api.settings import ApiSettings
from aiops_contracts import bus as bus_module
from aiops_contracts.bus import Bus
from aiops_contracts.db import Alert, AuditEntry, Incident, IncidentEvent
from aiops_contracts.envelope import Envelope
from aiops_contracts.incidents import announce_pending, change_id
from aiops_contracts.streams import INCIDENTS_CHANGED

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def incident(sessions) -> Incident:
    """An open incident as the aggregator would have stored it."""
    row = Incident(id=uuid.uuid4(), group_key="alert:host:web-1", title="Anomaly: cpu on web-1", summary="",
                   severity="high", status="open", event_count=3, hosts=["web-1"], services=[],
                   details={"kind": "alert", "samples": [], "template_ids": [], "reopen_count": 0},
                   first_seen_at=T0, last_seen_at=T0 + timedelta(minutes=2))
    async with sessions.begin() as session:
        session.add(row)
    return row


async def audit(sessions) -> list[tuple]:
    async with sessions() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(e.actor, e.action, e.entity_type, e.entity_id, e.before, e.after) for e in entries]


async def announced(bus: Bus) -> list[Envelope]:
    return [Envelope.from_entry(f) for _, f in await bus.redis.xrange(bus.key(INCIDENTS_CHANGED))]


async def marked(sessions) -> list[str]:
    """The kinds of the timeline rows whose change waits in the outbox, not announced yet."""
    async with sessions() as session:
        return list((await session.scalars(select(IncidentEvent.kind).where(IncidentEvent.announce.is_not(None))
                                           .order_by(IncidentEvent.id))).all())


async def test_acknowledge_then_resolve_audited_on_the_timeline_and_announced(bus: Bus, client, auth, app, incident, sessions,
                                                                             redis) -> None:
    url = f"/api/v1/incidents/{incident.id}"
    live = app.state.broadcaster.subscribe()
    try:
        acked = await client.post(f"{url}/acknowledge", headers=auth(Role.operator))
        assert acked.status_code == 200
        assert (acked.json()["status"], acked.json()["resolved_at"], acked.json()["event_count"]) == (
            "acknowledged", None, 3)
        resolved = await client.post(f"{url}/resolve", headers=auth(Role.admin))
        assert resolved.status_code == 200
        body = resolved.json()
        assert body["status"] == "resolved" and body["resolved_at"] is not None
        assert (await client.get(url, headers=auth(Role.viewer))).json() == body
        batches = [await asyncio.wait_for(live.get(), 5) for _ in range(2)]  # one announcement per action
        live_messages = [orjson.loads(text) for batch in batches for text in batch]
    finally:
        app.state.broadcaster.unsubscribe(live)

    entity = str(incident.id)
    assert await audit(sessions) == [
        ("test-operator", "incident.acknowledged", "incident", entity, {"status": "open"}, {"status": "acknowledged"}),
        ("test-admin", "incident.resolved", "incident", entity, {"status": "acknowledged"}, {"status": "resolved"}),
    ]
    async with sessions() as session:
        timeline = (await session.execute(select(IncidentEvent.kind, IncidentEvent.message, IncidentEvent.at)
                                          .order_by(IncidentEvent.id))).all()
    assert [(kind, message) for kind, message, _ in timeline] == [
        ("acknowledged", "acknowledged by test-operator"), ("resolved", "resolved by test-admin")]
    assert timeline[1].at == datetime.fromisoformat(body["resolved_at"])

    envelopes = await announced(bus)
    assert [(e.type, e.source, e.payload["status"]) for e in envelopes] == [
        ("incident.updated", "api", "acknowledged"), ("incident.resolved", "api", "resolved")]
    assert [e.id for e in envelopes] == [change_id(f"{kind}:{at.isoformat()}", entity, e.type)
                                         for (kind, _, at), e in zip(timeline, envelopes, strict=True)]
    assert await marked(sessions) == []  # announced: nothing left for the sweep
    assert all(e.payload["incident_id"] == entity for e in envelopes)
    assert [m["id"] for m in live_messages] == [e.id for e in envelopes]


async def test_repeats_change_nothing_and_acknowledging_a_resolved_incident_is_409(bus: Bus, client, auth, incident, sessions,
                                                                                   redis) -> None:
    url = f"/api/v1/incidents/{incident.id}"
    await client.post(f"{url}/acknowledge", headers=auth(Role.operator))
    again = await client.post(f"{url}/acknowledge", headers=auth(Role.operator))
    assert (again.status_code, again.json()["status"]) == (200, "acknowledged")
    first = (await client.post(f"{url}/resolve", headers=auth(Role.operator))).json()
    second = await client.post(f"{url}/resolve", headers=auth(Role.operator))
    assert second.status_code == 200 and second.json() == first  # idempotent: the first resolution time stays
    conflict = await client.post(f"{url}/acknowledge", headers=auth(Role.operator))
    assert conflict.status_code == 409
    assert conflict.json() == {"detail": f"incident {incident.id} is resolved: nothing to acknowledge"}
    assert [action for _, action, *_ in await audit(sessions)] == ["incident.acknowledged", "incident.resolved"]
    assert [e.type for e in await announced(bus)] == ["incident.updated", "incident.resolved"]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
async def test_viewer_is_403_and_unknown_incident_is_404(client, auth, incident, sessions, action) -> None:
    forbidden = await client.post(f"/api/v1/incidents/{incident.id}/{action}", headers=auth(Role.viewer))
    assert forbidden.status_code == 403
    missing = await client.post(f"/api/v1/incidents/{uuid.uuid4()}/{action}", headers=auth(Role.operator))
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert (await client.post(f"/api/v1/incidents/not-an-id/{action}", headers=auth(Role.operator))).status_code == 422
    async with sessions() as session:
        assert (await session.get(Incident, incident.id)).status == "open"
    assert await audit(sessions) == []


async def test_a_change_whose_announcement_failed_answers_200_and_waits_for_the_sweep(
        api_settings: ApiSettings, clean_db, incident, sessions, bus: Bus, redis, auth, monkeypatch) -> None:
    """The change is committed, so a failed announcement (here the incidents stream is full of entries a slow group
    has not read: StreamBacklogFull; or Redis is down) does not fail the answer; its timeline row keeps waiting in
    the outbox, and the sweep (announce_pending) announces it once, under the id the API would have used."""
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)  # read the backlog on every publish
    app = create_app(api_settings.model_copy(update={"stream_maxlen_factor": 1e-4}))  # MAXLEN 10 on the stream
    key = bus.key(INCIDENTS_CHANGED)
    await redis.xgroup_create(key, "slow", id="$", mkstream=True)
    await bus.publish_many(INCIDENTS_CHANGED, [Envelope(type="test.filler", source="test") for _ in range(9)])
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                   base_url="http://test") as client:
        response = await client.post(f"/api/v1/incidents/{incident.id}/resolve", headers=auth(Role.operator))
    assert (response.status_code, response.json()["status"]) == (200, "resolved")
    assert await marked(sessions) == ["resolved"]
    assert [e.type for e in await announced(bus)] == ["test.filler"] * 9

    await redis.xgroup_setid(key, "slow", "$")  # the slow group caught up
    for _ in range(2):  # two sweeps
        async with sessions.begin() as session:
            await announce_pending(session, bus, source="aggregator")
    resolved_at = datetime.fromisoformat(response.json()["resolved_at"])
    assert [(e.id, e.type) for e in (await announced(bus))[9:]] == [
        (change_id(f"resolved:{resolved_at.isoformat()}", str(incident.id), "incident.resolved"), "incident.resolved")]
    assert await marked(sessions) == []


@pytest.fixture
async def clearing_refused(sessions) -> AsyncIterator[None]:
    """PostgreSQL refuses to clear an outbox row (a trigger raises): a real database error in announce_pending after
    the change is committed and published."""
    async with sessions.begin() as session:
        await session.execute(text("CREATE FUNCTION refuse_clearing() RETURNS trigger LANGUAGE plpgsql AS "
                                   "$$ BEGIN RAISE EXCEPTION 'clearing refused'; END $$"))
        await session.execute(text("CREATE TRIGGER refuse_clearing BEFORE UPDATE OF announce ON incident_events "
                                   "FOR EACH ROW EXECUTE FUNCTION refuse_clearing()"))
    yield
    async with sessions.begin() as session:
        await session.execute(text("DROP FUNCTION refuse_clearing() CASCADE"))


async def test_a_change_whose_outbox_row_could_not_be_cleared_answers_200_and_waits_for_the_sweep(
        client, auth, incident, sessions, bus: Bus, clearing_refused) -> None:
    """A database error while announcing does not fail the committed change's answer either: the row keeps waiting
    in the outbox, so the sweep announces the change again, under the same id."""
    response = await client.post(f"/api/v1/incidents/{incident.id}/acknowledge", headers=auth(Role.operator))
    assert (response.status_code, response.json()["status"]) == (200, "acknowledged")
    assert await marked(sessions) == ["acknowledged"]
    assert [e.type for e in await announced(bus)] == ["incident.updated"]


async def test_reopen_a_resolved_incident_audited_on_the_timeline_and_announced(bus: Bus, client, auth, app, incident,
                                                                               sessions, redis) -> None:
    url = f"/api/v1/incidents/{incident.id}"
    await client.post(f"{url}/resolve", headers=auth(Role.operator))
    live = app.state.broadcaster.subscribe()
    try:
        reopened = await client.post(f"{url}/reopen", headers=auth(Role.operator))
        (text,) = await asyncio.wait_for(live.get(), 5)
        live_message = orjson.loads(text)
    finally:
        app.state.broadcaster.unsubscribe(live)
    assert reopened.status_code == 200
    body = reopened.json()
    assert (body["status"], body["resolved_at"], body["details"]["reopen_count"]) == ("open", None, 1)
    again = await client.post(f"{url}/reopen", headers=auth(Role.operator))
    assert again.status_code == 200 and again.json() == body  # a repeat changes nothing

    assert [(actor, action, before, after) for actor, action, _, _, before, after in await audit(sessions)][-1] == (
        "test-operator", "incident.reopened", {"status": "resolved"}, {"status": "open"})
    async with sessions() as session:
        kinds = (await session.scalars(select(IncidentEvent.message).order_by(IncidentEvent.id))).all()
    assert kinds == ["resolved by test-operator", "reopened by test-operator"]
    envelopes = await announced(bus)
    assert [(e.type, e.payload["status"], e.payload["reopened"]) for e in envelopes] == [
        ("incident.resolved", "resolved", False), ("incident.opened", "open", True)]
    assert live_message["id"] == envelopes[-1].id


@pytest.mark.parametrize("first", [None, "acknowledge"])
async def test_reopening_an_incident_that_is_not_resolved_is_409(client, auth, incident, first) -> None:
    url = f"/api/v1/incidents/{incident.id}"
    if first:
        await client.post(f"{url}/{first}", headers=auth(Role.operator))
        conflict = await client.post(f"{url}/reopen", headers=auth(Role.operator))
        assert conflict.status_code == 409
        assert conflict.json() == {"detail": f"incident {incident.id} is acknowledged, not resolved: nothing to reopen"}
    else:  # open already: nothing to change
        assert (await client.post(f"{url}/reopen", headers=auth(Role.operator))).json()["status"] == "open"


async def test_viewer_cannot_reopen(client, auth, incident, sessions) -> None:
    url = f"/api/v1/incidents/{incident.id}"
    await client.post(f"{url}/resolve", headers=auth(Role.operator))
    assert (await client.post(f"{url}/reopen", headers=auth(Role.viewer))).status_code == 403
    missing = await client.post(f"/api/v1/incidents/{uuid.uuid4()}/reopen", headers=auth(Role.operator))
    assert missing.status_code == 404
    async with sessions() as session:
        assert (await session.get(Incident, incident.id)).status == "resolved"


async def test_an_incidents_alerts_page_like_the_alerts_list(client, auth, incident, sessions) -> None:
    other = Incident(id=uuid.uuid4(), group_key="alert:host:db-1", title="db", summary="", severity="low",
                     status="open", event_count=1, hosts=["db-1"], services=[], details={}, first_seen_at=T0,
                     last_seen_at=T0)
    async with sessions.begin() as session:
        session.add(other)
        await session.flush()
        session.add_all(Alert(source="nagios", fingerprint=f"fp-{i}", title=f"a{i}", severity="high",
                              status="firing", host="web-1", first_seen_at=T0, last_seen_at=T0 + timedelta(minutes=i),
                              last_event_id=f"e{i}", incident_id=incident.id if i % 2 else other.id)
                        for i in range(7))
    url = f"/api/v1/incidents/{incident.id}/alerts"
    first = (await client.get(url, params={"limit": 2}, headers=auth(Role.viewer))).json()
    rest = (await client.get(url, params={"cursor": first["next_cursor"]}, headers=auth(Role.viewer))).json()
    assert [a["fingerprint"] for a in first["items"] + rest["items"]] == ["fp-5", "fp-3", "fp-1"]
    assert rest["next_cursor"] is None and {a["incident_id"] for a in first["items"]} == {str(incident.id)}
    missing = await client.get(f"/api/v1/incidents/{uuid.uuid4()}/alerts", headers=auth(Role.viewer))
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert (await client.get(url)).status_code == 401


async def test_incidents_by_host_status_severity_and_time(client, auth, incident, sessions) -> None:
    async with sessions.begin() as session:
        session.add(Incident(id=uuid.uuid4(), group_key="log:x:db-1", title="db", summary="", severity="low",
                             status="resolved", event_count=1, hosts=["db-1", "web-10"], services=[], details={},
                             first_seen_at=T0, last_seen_at=T0 + timedelta(hours=1)))

    async def titles(**params) -> list[str]:
        response = await client.get("/api/v1/incidents", params=params, headers=auth(Role.viewer))
        assert response.status_code == 200
        return [i["title"] for i in response.json()["items"]]

    assert await titles(host="web-1") == [incident.title]  # exact host, not a prefix of web-10
    assert await titles(host="db-1") == ["db"]
    assert await titles(host="DB-1.prod.example.com") == ["db"]  # by host name, as correlation lists them
    assert await titles(host="nowhere") == []
    assert await titles(host="web-10", status="resolved", severity="low") == ["db"]
    assert await titles(host="web-10", status="open") == []
    assert await titles(since=(T0 + timedelta(minutes=30)).isoformat()) == ["db"]
    assert await titles(until=(T0 + timedelta(minutes=30)).isoformat()) == [incident.title]


async def test_list_items_are_the_details_fields_and_values(client, auth, incident) -> None:
    """A list item carries IncidentRead's fields, in its order, with the detail's values."""
    [item] = (await client.get("/api/v1/incidents", headers=auth(Role.viewer))).json()["items"]
    detail = (await client.get(f"/api/v1/incidents/{incident.id}", headers=auth(Role.viewer))).json()
    assert list(item) == list(detail) == list(IncidentRead.model_fields)
    assert item == detail
