"""Sources: admins create them and see the token once; only its digest is stored."""

import tomllib
import uuid

import pytest
import yaml
from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_contracts.db import Source


async def test_create_shows_token_once_and_stores_only_its_digest(client, auth, sessions) -> None:
    response = await client.post("/api/v1/sources", json={"name": "prom", "kind": "alertmanager"}, headers=auth())
    assert response.status_code == 201
    token = response.json()["token"]
    listed = (await client.get("/api/v1/sources", headers=auth())).json()
    assert [s["name"] for s in listed] == ["prom"]
    assert "token" not in listed[0]
    async with sessions() as session:
        source = await session.scalar(select(Source))
    assert token not in (source.token_hash, source.token_prefix)
    assert token.startswith(source.token_prefix)


async def test_duplicate_name_is_409_and_bad_fields_422(client, auth) -> None:
    await client.post("/api/v1/sources", json={"name": "prom", "kind": "generic"}, headers=auth())
    duplicate = await client.post("/api/v1/sources", json={"name": "prom", "kind": "generic"}, headers=auth())
    assert duplicate.status_code == 409
    assert "name" in duplicate.json()["detail"]
    bad = await client.post("/api/v1/sources", json={"name": "x y;drop", "kind": "nope"}, headers=auth())
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "name"), ("body", "kind")}


@pytest.mark.parametrize(("config", "field"), [
    ({"integer_fields": [["a"]]}, "config.integer_fields.0"), ({"integer_fields": 5}, "config.integer_fields"),
    ({"data_format": ["json"]}, "config.data_format"), ({"data_format": "csv"}, "config.data_format"),
])
async def test_a_push_config_its_webhook_cannot_read_is_refused_422(client, auth, config, field) -> None:
    # Stored, it made every JSON body of the source a 500 (which Telegraf resends forever), or was read as unset.
    refused = await client.post("/api/v1/sources", json={"name": "tg", "kind": "telegraf", "config": config},
                                headers=auth())
    assert refused.status_code == 422, refused.text
    assert [e["msg"].removeprefix("Value error, ").startswith(f"{field}: ") for e in refused.json()["detail"]] == [True]
    good = {"data_format": "json", "integer_fields": ["mem.total"]}
    created = await client.post("/api/v1/sources", json={"name": "tg", "kind": "telegraf", "config": good},
                                headers=auth())
    assert (created.status_code, created.json()["config"]) == (201, good)


@pytest.mark.parametrize(("kind", "config", "allowed"), [
    ("telegraf", {"integer_field": ["mem.total"]}, "client_secret, data_format, integer_fields"),  # a typo
    ("generic", {"severity": "high"}, "client_secret"), ("alertmanager", {"receiver": "x"}, "client_secret"),
    ("sentry", {"dsn": "x"}, "client_secret"), ("logs", {"format": "json"}, "client_secret"),
])
async def test_a_push_config_key_its_webhook_does_not_read_is_refused_422(client, auth, kind, config,
                                                                          allowed) -> None:
    # Kept unread, a mistyped key went unnoticed: the setting it meant was never applied.
    refused = await client.post("/api/v1/sources", json={"name": "src", "kind": kind, "config": config},
                                headers=auth())
    assert refused.status_code == 422, refused.text
    assert [e["msg"].removeprefix("Value error, ") for e in refused.json()["detail"]] == [
        f"config.{next(iter(config))}: not a setting of {kind} sources (those are: {allowed})"]
    assert (await client.get("/api/v1/sources", headers=auth())).json() == []


async def test_names_of_the_workers_own_alert_sources_are_refused_422(client, auth) -> None:
    # Automations, the pipelines page and the chat trust these names as the worker's own anomaly, forecast and
    # build alerts: a source's token holder must not be able to post under them.
    for name in ("anomaly-detector", "capacity-forecast", "pipelines", "Anomaly-Detector"):
        refused = await client.post("/api/v1/sources", json={"name": name, "kind": "generic"}, headers=auth())
        assert refused.status_code == 422, refused.text
        assert [(e["loc"], "reserved" in e["msg"]) for e in refused.json()["detail"]] == [(["body", "name"], True)]
    assert (await client.get("/api/v1/sources", headers=auth())).json() == []


async def test_an_update_cannot_rename_a_source_its_name_is_not_a_field_of_it(client, auth, make_source) -> None:
    # SourceUpdate has no name: a rename (to a reserved name or any other) is refused as an extra field.
    source = await make_source("nagios")
    refused = await client.patch(f"/api/v1/sources/{source.id}", json={"name": "pipelines"}, headers=auth())
    assert refused.status_code == 422, refused.text
    assert [(e["loc"], e["type"]) for e in refused.json()["detail"]] == [(["body", "name"], "extra_forbidden")]
    assert [s["name"] for s in (await client.get("/api/v1/sources", headers=auth())).json()] == ["nagios"]


async def test_only_admins_manage_sources(client, auth) -> None:
    for role in (Role.viewer, Role.operator):
        response = await client.post("/api/v1/sources", json={"name": "x", "kind": "generic"}, headers=auth(role))
        assert response.status_code == 403


async def test_create_answers_snippets_with_the_token_and_later_with_a_placeholder(client, auth) -> None:
    created = (await client.post("/api/v1/sources", json={"name": "fleet", "kind": "telegraf"}, headers=auth())).json()
    token, snippets = created["token"], created["snippets"]
    assert (snippets["kind"], snippets["url"], snippets["token_included"]) == (
        "telegraf", "http://127.0.0.1:8080/webhooks/telegraf", True)
    toml = tomllib.loads(snippets["items"][0]["content"])
    assert toml["outputs"]["http"][0] == {
        "url": "http://127.0.0.1:8080/webhooks/telegraf", "method": "POST", "data_format": "influx",
        "content_encoding": "gzip", "headers": {"X-AIOps-Token": token}}
    later = await client.get(f"/api/v1/sources/{created['id']}/snippets", headers=auth())
    assert later.status_code == 200 and later.json()["token_included"] is False
    assert token not in later.text and '"<token>"' in later.json()["items"][0]["content"]


async def test_snippets_follow_the_kind_and_public_url(client, auth, app) -> None:
    app.state.settings = app.state.settings.model_copy(update={"public_url": "https://aiops.example.com/base"})
    items = {}
    for kind in ("sentry", "alertmanager", "generic", "logs"):
        created = (await client.post("/api/v1/sources", json={"name": kind, "kind": kind}, headers=auth())).json()
        snippets = (await client.get(f"/api/v1/sources/{created['id']}/snippets", headers=auth())).json()
        items[kind] = {i["name"]: i["content"] for i in snippets["items"]}
    assert items["sentry"]["sentry_dsn"] == "https://<token>@aiops.example.com/base/1"
    receiver = yaml.safe_load(items["alertmanager"]["alertmanager"])["receivers"][0]
    assert receiver["webhook_configs"][0] == {
        "url": "https://aiops.example.com/base/webhooks/alertmanager", "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials": "<token>"}}}
    assert "curl -X POST 'https://aiops.example.com/base/webhooks/generic'" in items["generic"]["curl"]
    assert "'https://aiops.example.com/base/webhooks/logs?host=web-1&service=nginx'" in items["logs"]["curl"]
    assert all("X-AIOps-Token: <token>" in items[k]["curl"] for k in ("generic", "logs"))


async def test_the_generic_curl_example_is_accepted(client, auth, redis) -> None:
    """The snippet is runnable: its body, sent with the token, is a valid alert."""
    created = (await client.post("/api/v1/sources", json={"name": "ci", "kind": "generic"}, headers=auth())).json()
    curl = created["snippets"]["items"][0]["content"]
    body = curl.split("--data-binary '", 1)[1].rsplit("'", 1)[0]
    sent = await client.post("/webhooks/generic", content=body, headers={
        "X-AIOps-Token": created["token"], "Content-Type": "application/json"})
    assert sent.status_code == 202 and sent.json()["accepted"] == 1


async def test_snippets_are_for_admins_and_known_sources(client, auth, make_source) -> None:
    source = await make_source()
    for role in (Role.viewer, Role.operator):
        assert (await client.get(f"/api/v1/sources/{source.id}/snippets", headers=auth(role))).status_code == 403
    missing = await client.get(f"/api/v1/sources/{uuid.uuid4()}/snippets", headers=auth())
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
