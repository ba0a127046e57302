"""Polled sources: created with a target, interval, credentials (sealed, never returned) and labels; changed with
PATCH; listed with the health the worker records; connection tests answered by a worker through Redis."""

import asyncio

import orjson
from sqlalchemy import select

from aiops_api.sources import service
from aiops_contracts.db import Source
from aiops_contracts.pollers import ConnectionCheck, ConnectionStep
from aiops_contracts.streams import POLLER_CHECKS_KEY, POLLER_CHECKS_MAX, POLLER_HEALTH_KEY

SNMP = {"name": "core-sw", "kind": "snmp", "target": "127.0.0.1", "interval_s": 30,
        "config": {"port": 16100}, "credentials": {"community": "s3cret-community"}, "labels": {"site": "par1"}}


async def test_credentials_are_sealed_at_rest_and_never_returned(client, auth, sessions) -> None:
    created = await client.post("/api/v1/sources", json=SNMP, headers=auth())
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["token"], body["snippets"], body["token_prefix"]) == (None, None, None)
    assert (body["target"], body["interval_s"], body["labels"], body["credentials"]) == (
        "127.0.0.1", 30, {"site": "par1"}, ["community"])
    listed = await client.get("/api/v1/sources", headers=auth())
    assert "s3cret-community" not in created.text + listed.text
    async with sessions() as session:
        row = await session.scalar(select(Source))
    assert "s3cret-community" not in orjson.dumps(row.credentials).decode()
    assert set(row.credentials["community"]) == {"fernet"}


async def test_bad_poller_fields_are_422_naming_the_field(client, auth) -> None:
    cases = [
        ({**SNMP, "credentials": {}}, "community"),
        ({**SNMP, "config": {"community": "x"}}, "config.community"),
        ({**SNMP, "credentials": {"password": "x"}}, "credentials.password"),
        ({**SNMP, "target": "169.254.169.254"}, "target"),
        ({**SNMP, "config": {"port": 70000}}, "config.port"),
        ({"name": "bmc", "kind": "redfish", "target": "ftp://bmc", "config": {"username": "root"},
          "credentials": {"password": "x"}}, "target"),
        ({"name": "hook", "kind": "generic", "target": "127.0.0.1"}, "target"),
        ({**SNMP, "labels": {"bad key": "x"}}, "label"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/sources", json=body, headers=auth())
        assert response.status_code == 422, (body, response.text)
        assert field in response.text, (field, response.text)


async def test_a_poller_config_key_its_settings_lack_is_refused_naming_those_they_have(client, auth) -> None:
    allowed = ("(those are: auth_protocol, host_resources, interfaces, oids, port, priv_protocol, request_timeout_s, "
               "retries, timeout_s, username, version)")
    refused = await client.post("/api/v1/sources", json={**SNMP, "config": {"prot": 16100}}, headers=auth())
    assert refused.status_code == 422, refused.text
    assert [e["msg"].removeprefix("Value error, ") for e in refused.json()["detail"]] == [
        "config.prot: not a setting of snmp sources " + allowed]
    source = (await client.post("/api/v1/sources", json=SNMP, headers=auth())).json()
    changed = await client.patch(f"/api/v1/sources/{source['id']}", json={"config": {"prot": 1}}, headers=auth())
    assert (changed.status_code, changed.json()["detail"]) == (400, "config.prot: not a setting of snmp sources "
                                                               + allowed)


async def test_update_keeps_stored_credentials_and_checks_the_whole(client, auth, sessions) -> None:
    source = (await client.post("/api/v1/sources", json=SNMP, headers=auth())).json()
    url = f"/api/v1/sources/{source['id']}"
    changed = await client.patch(url, json={"interval_s": 60, "enabled": False, "labels": {"site": "lon1"}},
                                 headers=auth())
    assert changed.status_code == 200, changed.text
    assert (changed.json()["interval_s"], changed.json()["enabled"], changed.json()["labels"]) == (
        60, False, {"site": "lon1"})
    to_v3 = await client.patch(url, json={"config": {"version": "3", "port": 16100}}, headers=auth())
    assert to_v3.status_code == 400 and "username" in to_v3.json()["detail"]
    async with sessions() as session:
        before = (await session.scalar(select(Source))).credentials["community"]
    rotated = await client.patch(url, json={"credentials": {"community": "rotated"}}, headers=auth())
    assert rotated.status_code == 200 and "rotated" not in rotated.text
    async with sessions() as session:
        assert (await session.scalar(select(Source))).credentials["community"] != before
    assert (await client.delete(url, headers=auth())).status_code == 200
    revoked = await client.patch(url, json={"enabled": True}, headers=auth())
    assert revoked.status_code == 400 and "revoked" in revoked.json()["detail"]
    hook = (await client.post("/api/v1/sources", json={"name": "hook", "kind": "generic"}, headers=auth())).json()
    assert (await client.patch(f"/api/v1/sources/{hook['id']}", json={"enabled": False},
                               headers=auth())).status_code == 400


async def test_update_refuses_null_for_a_field_without_an_empty_value(client, auth) -> None:
    source = (await client.post("/api/v1/sources", json=SNMP, headers=auth())).json()
    url = f"/api/v1/sources/{source['id']}"
    fields = ("enabled", "target", "interval_s", "config", "credentials", "labels")
    for field in fields:
        response = await client.patch(url, json={field: None}, headers=auth())
        assert response.status_code == 422, (field, response.text)
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", field] and "null" in error["msg"], error
    (unchanged,) = (await client.get("/api/v1/sources", headers=auth())).json()
    assert [unchanged[field] for field in fields] == [source[field] for field in fields]


async def test_list_shows_the_health_the_worker_recorded(client, auth, redis, api_settings) -> None:
    source = (await client.post("/api/v1/sources", json=SNMP, headers=auth())).json()
    await redis.hset(api_settings.redis_key(POLLER_HEALTH_KEY, source["id"]), mapping={
        "worker": "w1", "last_poll_at": 1_700_000_000.5, "last_success_at": 1_700_000_000.5, "duration_s": 0.25,
        "points": 12, "points_total": 240, "consecutive_failures": 0})
    listed = {s["name"]: s for s in (await client.get("/api/v1/sources", headers=auth())).json()}
    health = listed["core-sw"]["health"]
    assert (health["worker"], health["points"], health["points_total"], health["duration_s"]) == ("w1", 12, 240, 0.25)
    assert health["last_success_at"].startswith("2023-11-14T22:13:20")


async def test_connection_test_is_answered_by_a_worker(client, auth, redis, bus) -> None:
    source = (await client.post("/api/v1/sources", json=SNMP, headers=auth())).json()

    async def worker() -> None:  # what producers/manager.py does with a request
        key, raw = await redis.blpop([bus.poller_checks_key, POLLER_CHECKS_KEY], timeout=10)
        assert key.decode() == bus.poller_checks_key  # under the run's BUS_PREFIX, as a worker of this run reads it
        request = orjson.loads(raw)
        assert request["source_id"] == source["id"]
        answer = ConnectionCheck(ok=False, duration_s=0.1, steps=[
            ConnectionStep(stage="dns", ok=True, message="127.0.0.1 resolves"),
            ConnectionStep(stage="auth", ok=False, message="wrong community")])
        await redis.rpush(request["reply_to"], answer.model_dump_json())

    answering = asyncio.create_task(worker())
    response = await client.post(f"/api/v1/sources/{source['id']}/test", headers=auth())
    await answering
    assert response.status_code == 200
    assert [(s["stage"], s["ok"]) for s in response.json()["steps"]] == [("dns", True), ("auth", False)]


async def test_a_connection_test_no_worker_takes_is_503_and_leaves_a_bounded_queue(client, auth, bus,
                                                                                   monkeypatch) -> None:
    # The queue expires 2 x CHECK_WAIT_S after the push: a wait of 3 s leaves 3 s for this test to read it, even on a
    # loaded machine (with 1 s it expired before the reads under a load of 7)
    monkeypatch.setattr(service, "CHECK_WAIT_S", 3)
    source = (await client.post("/api/v1/sources", json=SNMP, headers=auth())).json()
    redis, checks_key = bus.redis, bus.poller_checks_key
    await redis.rpush(checks_key, *[b"an older request"] * (POLLER_CHECKS_MAX + 5))

    response = await client.post(f"/api/v1/sources/{source['id']}/test", headers=auth())

    assert response.status_code == 503 and "no worker answered" in response.json()["detail"]
    queued = await redis.lrange(checks_key, 0, -1)
    assert len(queued) == POLLER_CHECKS_MAX - 1 and source["id"].encode() not in b"".join(queued)  # its own withdrawn
    assert 0 < await redis.ttl(checks_key) <= 6
