"""GET /api/v1/incidents/{id}/evidence and POST /split: evidence by onset with the origin marked; a split moves
one signal into a new incident, audited, remembered for the aggregator, announced (the incident updated, the new
one opened)."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_contracts.bus import Bus
from aiops_contracts.db import Alert, AuditEntry, Incident, IncidentSignal, IncidentSplit
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import INCIDENTS_CHANGED

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def signal(incident_id: uuid.UUID, key: str, seconds: int, count: int, host: str, rule: str, via: str,
           kind: str = "", source: str = "") -> IncidentSignal:
    return IncidentSignal(incident_id=incident_id, group_key=key, kind=kind or key.split(":")[0], source=source,
                          title=key, host=host,
                          service=None, template_id=None, score=None, count=count, first_seen_at=T0 + timedelta(seconds=seconds),
                          last_seen_at=T0 + timedelta(seconds=seconds + 5), rule=rule, via=via)


async def merged(sessions) -> uuid.UUID:
    incident_id = uuid.uuid4()
    async with sessions.begin() as session:
        session.add(Incident(id=incident_id, group_key="log:t:db-1", title="t", summary="", severity="high",
                             status="open", event_count=9, hosts=["db-1", "web-9"], services=[],
                             details={"origin": "log:t:db-1"}, first_seen_at=T0, last_seen_at=T0 + timedelta(seconds=65)))
        await session.flush()
        session.add_all([signal(incident_id, "alert:host:web-9", 60, 3, "web-9", "depends_on", "web depends on postgres",
                                source="alertmanager"),
                         signal(incident_id, "log:t:db-1", 0, 4, "db-1", "opened", ""),
                         # a second kind of signal on the same host key: its own evidence row
                         signal(incident_id, "alert:host:web-9", 62, 2, "web-9", "depends_on", "web depends on postgres",
                                kind="anomaly", source="anomaly-detector")])
    return incident_id


async def test_evidence_is_ordered_by_onset_with_the_origin_marked(client, auth, sessions) -> None:
    incident_id = await merged(sessions)
    rows = (await client.get(f"/api/v1/incidents/{incident_id}/evidence", headers=auth(Role.viewer))).json()
    assert [(r["group_key"], r["kind"], r["source"], r["rule"], r["via"], r["origin"]) for r in rows] == [
        ("log:t:db-1", "log", "", "opened", "", True),
        ("alert:host:web-9", "alert", "alertmanager", "depends_on", "web depends on postgres", False),
        ("alert:host:web-9", "anomaly", "anomaly-detector", "depends_on", "web depends on postgres", False)]
    missing = await client.get(f"/api/v1/incidents/{uuid.uuid4()}/evidence", headers=auth(Role.viewer))
    assert missing.status_code == 404


async def test_split_moves_the_signal_out_audited_and_remembered(client, auth, sessions, bus: Bus) -> None:
    incident_id = await merged(sessions)
    url = f"/api/v1/incidents/{incident_id}/split"
    split = await client.post(url, headers=auth(Role.operator), json={"group_key": "alert:host:web-9"})
    assert split.status_code == 200
    body = split.json()
    assert (body["incident"]["event_count"], body["incident"]["hosts"]) == (4, ["db-1"])
    assert (body["new_incident"]["event_count"], body["new_incident"]["hosts"]) == (5, ["web-9"])  # both kinds
    async with sessions() as session:
        memory = (await session.scalars(select(IncidentSplit))).one()
        audit = (await session.scalars(select(AuditEntry))).one()
    assert (memory.group_key, memory.other_keys, memory.actor) == ("alert:host:web-9", ["log:t:db-1"], "test-operator")
    assert (audit.action, audit.entity_id) == ("incident.split", str(incident_id))
    announced = [Envelope.from_entry(f) for _, f in await bus.redis.xrange(bus.key(INCIDENTS_CHANGED))]
    assert [(e.type, e.payload["incident_id"], e.payload["reopened"]) for e in announced] == [
        ("incident.updated", str(incident_id), False), ("incident.opened", body["new_incident"]["id"], False)]
    only = await client.post(url, headers=auth(Role.operator), json={"group_key": "log:t:db-1"})
    assert only.status_code == 409 and "only signal" in only.json()["detail"]
    unknown = await client.post(url, headers=auth(Role.operator), json={"group_key": "log:nope"})
    assert unknown.status_code == 404 and "log:nope" in unknown.json()["detail"]
    viewer = await client.post(url, headers=auth(Role.viewer), json={"group_key": "log:t:db-1"})
    assert viewer.status_code == 403


async def test_split_moves_the_alerts_of_the_signal_to_the_new_incident(client, auth, sessions) -> None:
    """The alerts linked to the incident (alerts.incident_id) whose group key is the split one follow their evidence
    to the new incident, keyed as the aggregator keys them (the host named, else the service, else the alert itself);
    the other alerts stay where they were."""
    incident_id = await merged(sessions)
    other = Incident(id=uuid.uuid4(), group_key="alert:host:web-9", title="o", summary="", severity="high",
                     status="resolved", event_count=1, hosts=["web-9"], services=[], details={}, first_seen_at=T0,
                     last_seen_at=T0)

    def alert(source: str, fingerprint: str, host: str | None, service: str | None = None,
              incident: uuid.UUID = incident_id) -> Alert:
        return Alert(source=source, fingerprint=fingerprint, title=fingerprint, severity="high", status="firing",
                     host=host, service=service, first_seen_at=T0, last_seen_at=T0, last_event_id=fingerprint,
                     incident_id=incident)

    async with sessions.begin() as session:
        session.add(other)
        session.add(signal(incident_id, "alert:nagios:disk", 70, 1, None, "same_service", "x", source="nagios"))
        await session.flush()
        session.add_all([alert("alertmanager", "load", "web-9:9100"), alert("anomaly-detector", "cpu", "WEB-9.example.org"),
                         alert("nagios", "db", "db-1"), alert("sentry", "err", None, " Web "),
                         alert("nagios", "disk", None), alert("zabbix", "old", "web-9", incident=other.id)])

    async def links() -> dict[str, uuid.UUID | None]:
        async with sessions() as session:
            return {fingerprint: incident for fingerprint, incident in await session.execute(select(Alert.fingerprint, Alert.incident_id))}

    url = f"/api/v1/incidents/{incident_id}/split"
    split = await client.post(url, headers=auth(Role.operator), json={"group_key": "alert:host:web-9"})
    assert split.status_code == 200
    web9 = uuid.UUID(split.json()["new_incident"]["id"])
    assert await links() == {"load": web9, "cpu": web9, "db": incident_id, "err": incident_id, "disk": incident_id,
                             "old": other.id}
    split = await client.post(url, headers=auth(Role.operator), json={"group_key": "alert:nagios:disk"})
    assert split.status_code == 200
    assert (await links())["disk"] == uuid.UUID(split.json()["new_incident"]["id"])
