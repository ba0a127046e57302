"""Redfish events pushed by a BMC to its source's subscription: each record of the Event (DSP0266, records of the
ResourceEvent registry) becomes an alert keyed like the poller's alert of that component; the Event must carry
the source's Context, and the source must be an enabled Redfish source. A record without a severity is
informational (never resolves the component's alert); a rebooted BMC's ids are not taken for redeliveries; what
was pushed is noted for the poller, whose reading wins."""

import uuid

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.pollers import push_context, redfish_fingerprint, redfish_push_ids_key, redfish_pushed_key
from aiops_contracts.secrets import secret_box
from aiops_contracts.streams import ALERTS_INGESTED

FAN = "/redfish/v1/Chassis/1U/Thermal#/Fans/0"
BMC = {"name": "rack1-bmc", "kind": "redfish", "target": "https://10.0.0.7", "config": {"username": "root"},
       "credentials": {"password": "calvin"}, "labels": {"rack": "r1"}}


def event(context: str, health: str | None, event_id: str = "1", at: str = "2026-11-30T03:30:00+00:00") -> dict:
    return {"@odata.type": "#Event.v1_7_0.Event", "Id": event_id, "Name": "Event Array", "Context": context,
            "Events": [{"EventType": "Alert", "EventId": event_id, "MessageSeverity": health, "EventTimestamp": at,
                        "MessageId": f"ResourceEvent.1.0.ResourceStatusChanged{health}",
                        "Message": f"The health of resource `{FAN}` has changed to {health}.",
                        "MessageArgs": [FAN, health], "OriginOfCondition": {"@odata.id": FAN}}]}


async def test_pushed_events_fire_and_resolve_the_components_alert(client, auth, api_settings, bus: Bus) -> None:
    source = (await client.post("/api/v1/sources", json=BMC, headers=auth())).json()
    context = push_context(secret_box(api_settings.secrets_key), source["id"])
    path = f"/webhooks/redfish/{source['id']}"

    for health, event_id in (("Critical", "1"), ("Critical", "1"), ("OK", "2")):  # the second: a redelivery
        assert (await client.post(path, json=event(context, health, event_id))).status_code == 202

    entries = [Envelope.from_entry(f) for _, f in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]
    assert len({e.id for e in entries}) == 2 and {e.source for e in entries} == {"rack1-bmc"}
    failed, healed = entries[0].payload, entries[-1].payload
    assert failed["fingerprint"] == healed["fingerprint"] == redfish_fingerprint(source["id"], FAN)
    assert (failed["severity"], failed["status"], failed["host"]) == ("critical", "firing", "10.0.0.7")
    assert failed["labels"] == {"rack": "r1", "component": FAN}
    assert failed["details"]["message_id"] == "ResourceEvent.1.0.ResourceStatusChangedCritical"
    assert healed["status"] == "resolved"
    # The status alone, as before pushes had ids: a worker of then (a rolling upgrade) compares it as it is.
    assert await bus.redis.hgetall(redfish_pushed_key(api_settings, source["id"])) == {FAN.encode(): b"resolved"}


async def test_each_push_is_noted_apart_from_the_last_though_of_the_same_status(client, auth, api_settings,
                                                                                bus: Bus) -> None:
    """A poll settles the push it read only if the hashes still hold that one: a later push of the same status (the
    poll's commit would otherwise take it for the one it read) is noted with an id of its own, beside the status."""
    source = (await client.post("/api/v1/sources", json=BMC, headers=auth())).json()
    context = push_context(secret_box(api_settings.secrets_key), source["id"])
    key = redfish_pushed_key(api_settings, source["id"])
    noted = []
    for event_id in ("1", "2"):
        assert (await client.post(f"/webhooks/redfish/{source['id']}", json=event(context, "Critical", event_id))
                ).status_code == 202
        noted.append((await bus.redis.hget(key, FAN), await bus.redis.hget(redfish_push_ids_key(key), FAN)))
    [(first, first_id), (second, second_id)] = noted
    assert first == second == b"firing" and first_id and second_id and first_id != second_id
    assert await bus.redis.ttl(key) > 0 and await bus.redis.ttl(redfish_push_ids_key(key)) > 0  # both forgotten


async def test_informational_records_and_a_rebooted_bmcs_ids(client, auth, api_settings, bus: Bus) -> None:
    source = (await client.post("/api/v1/sources", json=BMC, headers=auth())).json()
    context = push_context(secret_box(api_settings.secrets_key), source["id"]) + ".the-pollers-id"
    path = f"/webhooks/redfish/{source['id']}"

    assert (await client.post(path, json=event(context, "Critical", "1"))).status_code == 202
    assert (await client.post(path, json=event(context, None, "2"))).status_code == 202  # informational
    rebooted = event(context, "Warning", "1", at="2026-11-30T04:00:00+00:00")  # its ids count from 1 again
    assert (await client.post(path, json=rebooted)).status_code == 202

    failed, info, again = (Envelope.from_entry(f).payload for _, f in await bus.redis.xrange(bus.key(ALERTS_INGESTED)))
    assert failed["fingerprint"] == again["fingerprint"] == redfish_fingerprint(source["id"], FAN)
    assert (info["severity"], info["status"]) == ("info", "firing") and info["fingerprint"] != failed["fingerprint"]
    assert again["severity"] == "medium"


async def test_events_need_the_sources_context_and_an_enabled_redfish_source(client, auth, api_settings) -> None:
    source = (await client.post("/api/v1/sources", json=BMC, headers=auth())).json()
    context = push_context(secret_box(api_settings.secrets_key), source["id"])
    path = f"/webhooks/redfish/{source['id']}"

    assert (await client.post(path, json=event("0" * 64, "Critical"))).status_code == 401
    assert (await client.post(path, json={"Context": context, "Events": "no"})).status_code == 400
    assert (await client.post(f"/webhooks/redfish/{uuid.uuid4()}", json=event(context, "Critical"))).status_code == 401
    await client.patch(f"/api/v1/sources/{source['id']}", json={"enabled": False}, headers=auth())
    assert (await client.post(path, json=event(context, "Critical"))).status_code == 401


async def test_a_long_message_on_a_long_host_name_is_one_alert_with_its_title_cut(client, auth, api_settings,
                                                                                 bus: Bus) -> None:
    host = ".".join(["b" * 60] * 4)  # 243 characters: a long but valid DNS name
    source = (await client.post("/api/v1/sources", json={**BMC, "target": f"https://{host}"}, headers=auth())).json()
    context = push_context(secret_box(api_settings.secrets_key), source["id"])
    record = event(context, "Critical")
    record["Events"][0]["Message"] = "m" * 1_000

    assert (await client.post(f"/webhooks/redfish/{source['id']}", json=record)).status_code == 202
    [(_, fields)] = await bus.redis.xrange(bus.key(ALERTS_INGESTED))
    alert = Envelope.from_entry(fields).payload
    assert len(alert["title"]) == 500 and alert["title"].startswith("m" * 400 + " on bbb") and alert["host"] == host
