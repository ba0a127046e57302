"""Sentry: the SDK endpoints (envelope and store) with captured sentry-sdk payloads and the real SDK in a
subprocess, grouping like Sentry's issues, and the integration webhooks signed with the client secret (at
least 32 characters, encrypted at rest, deliveries outside the timestamp window refused, replays taken once)."""

import asyncio
import gzip
import hashlib
import hmac
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from aiops_api.main import create_app
from aiops_api.sources.credentials import hash_token
from aiops_api.webhooks import sentry_hooks
from aiops_api.webhooks.body import MAX_BODY_NESTING
from aiops_api.webhooks.sentry import parse_envelope
from aiops_api.webhooks.sentry_events import MAX_EVENT_NESTING, event_to_alert, group_hash
from aiops_contracts import bus as bus_module
from aiops_contracts.bus import Bus
from aiops_contracts.db import Source
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED, METRICS_INGESTED, StreamSpec

PAYLOADS = Path(__file__).parent / "payloads" / "sentry"
MAX_ITEMS = 100  # WEBHOOK_MAX_ITEMS of the tests' API
CLIENT_SECRET = "6a1c0ef1c2e74e1ab3b8c9d0e1f20304a5b6c7d8e9f0a1b2c3d4e5f60718293a"
SDK_SCRIPT = '''
import sys
import sentry_sdk

sentry_sdk.init(dsn=sys.argv[1], release="shop@1.2.3", environment="test", server_name="web-7",
                traces_sample_rate=1.0, _experiments={"transport_compression_algo": sys.argv[2]})

def charge(order_id):
    raise ValueError(f"card declined for order {order_id}")

def lookup(key):
    return {}[key]

for order_id in (17, 18):
    try:
        charge(order_id)
    except ValueError:
        sentry_sdk.capture_exception()
try:
    lookup("user-42")
except KeyError:
    sentry_sdk.capture_exception()
with sentry_sdk.start_transaction(name="checkout"):
    pass
raise RuntimeError("unhandled at exit")
'''


def envelope(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def exception_event() -> dict:
    return parse_envelope(envelope("envelope_exception.envelope"), MAX_ITEMS).events[0]


async def stream_alerts(bus: Bus, source: str = "shop-sentry") -> list[dict]:
    """Alerts this test's source put on the stream (other test runs may share the Redis database)."""
    envelopes = [Envelope.from_entry(fields) for _, fields in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]
    return [e.payload for e in envelopes if e.source == source]


def test_captured_sdk_envelopes_parse() -> None:
    parsed = parse_envelope(envelope("envelope_exception.envelope"), MAX_ITEMS)
    assert parsed.event_id == "de4f5112cf97432895940304c473b29c"
    alert = event_to_alert(parsed.events[0], "42")
    assert alert.title == "ValueError: card declined for order 17"
    assert (alert.severity, alert.host, alert.service) == ("high", "web-7", "shop")  # release shop@1.2.3
    assert alert.labels == {"project_id": "42", "environment": "staging", "release": "shop@1.2.3", "level": "error",
                            "platform": "python"}
    assert alert.details["sample_event"]["exception"][0]["frames"][-1] == "__main__:charge:4"
    transaction = parse_envelope(envelope("envelope_transaction.envelope"), MAX_ITEMS)
    assert (transaction.events, dict(transaction.skipped)) == ([], {"transaction": 1})


def test_the_service_is_the_service_tag_else_the_release_package() -> None:
    event = exception_event()
    assert event_to_alert({**event, "release": "@shop/checkout@4.12.0"}, "42").service == "@shop/checkout"
    assert event_to_alert({**event, "tags": {"service": "payments"}}, "42").service == "payments"
    for release in ("4.12.0", "9f1c2e7", "checkout@", None):  # a bare version or commit names no service
        assert event_to_alert({**event, "release": release}, "42").service is None


def test_an_envelope_with_every_kind_of_item() -> None:
    attachment = b"\x00\x01binary\nwith newline"
    body = b"\n".join([
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}',
        b'{"type":"attachment","length":%d,"filename":"dump.bin"}' % len(attachment), attachment,
        b'{"type":"event"}', b'{"message":"hello","level":"warning"}',
        b'{"type":"session"}', b'{"sid":"abc","status":"ok"}',
        b'{"type":"client_report"}', b'{"discarded_events":[]}',
        b'{"type":"something_new","length":2}', b"{}",
    ])
    parsed = parse_envelope(body, MAX_ITEMS)
    assert [e["message"] for e in parsed.events] == ["hello"]
    assert dict(parsed.skipped) == {"attachment": 1, "session": 1, "client_report": 1, "something_new": 1}


def test_grouping_ignores_line_numbers_and_values() -> None:
    event = exception_event()
    moved = orjson.loads(orjson.dumps(event))
    for frame in moved["exception"]["values"][0]["stacktrace"]["frames"]:
        frame["lineno"] += 40
    moved["exception"]["values"][0]["value"] = "card declined for order 99"
    assert group_hash(moved, "42") == group_hash(event, "42")
    moved["exception"]["values"][0]["type"] = "KeyError"
    assert group_hash(moved, "42") != group_hash(event, "42")


def test_grouping_by_in_app_frames_only() -> None:
    event = exception_event()
    library = orjson.loads(orjson.dumps(event))
    library["exception"]["values"][0]["stacktrace"]["frames"].append(
        {"module": "urllib3.connection", "function": "connect", "in_app": False})
    assert group_hash(library, "42") == group_hash(event, "42")
    other_caller = orjson.loads(orjson.dumps(event))
    other_caller["exception"]["values"][0]["stacktrace"]["frames"][0]["function"] = "refund"
    assert group_hash(other_caller, "42") != group_hash(event, "42")


def test_explicit_fingerprint_wins_and_default_extends_it() -> None:
    event = exception_event()
    explicit = group_hash({**event, "fingerprint": ["payments"]}, "42")
    assert explicit == group_hash({"fingerprint": ["payments"], "message": "x"}, "42")
    extended = group_hash({**event, "fingerprint": ["{{ default }}", "eu"]}, "42")
    other_region = group_hash({**event, "fingerprint": ["{{ default }}", "us"]}, "42")
    assert extended not in (group_hash(event, "42"), other_region)


def test_groups_never_span_projects() -> None:
    event = exception_event()
    assert group_hash(event, "42") != group_hash(event, "43")
    pinned = {**event, "fingerprint": ["payments"]}
    assert group_hash(pinned, "42") != group_hash(pinned, "43")


def test_messages_group_by_their_template() -> None:
    logentry = parse_envelope(envelope("envelope_logentry.envelope"), MAX_ITEMS).events[0]
    other_count = {**logentry, "logentry": {**logentry["logentry"], "formatted": "Failed to reserve 9 items",
                                             "params": [9]}}
    assert group_hash(other_count, "42") == group_hash(logentry, "42")
    plain = {"message": "Timeout after 30 s talking to 10.0.0.7"}
    assert group_hash(plain, "42") == group_hash({"message": "Timeout after 45 s talking to 10.0.0.9"}, "42")
    assert event_to_alert(logentry, "42").title == "Failed to reserve 3 items"


@pytest.fixture
async def sentry_token(make_source) -> str:
    return (await make_source("shop-sentry", kind="sentry", config={"client_secret": CLIENT_SECRET})).token


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
async def test_store_endpoint_with_the_key_in_the_query(bus: Bus, client, redis, sentry_token, encoding) -> None:
    raw = orjson.dumps(exception_event())
    body = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": bytes}[encoding](raw)
    response = await client.post(f"/api/42/store/?sentry_key={sentry_token}&sentry_version=7", content=body,
                                 headers={"Content-Encoding": encoding, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "de4f5112cf97432895940304c473b29c"}
    (alert,) = await stream_alerts(bus)
    assert (alert["title"], alert["signal"]) == ("ValueError: card declined for order 17", "error")


async def test_one_source_for_several_projects_keeps_their_groups_apart(bus: Bus, client, redis, sentry_token) -> None:
    body = orjson.dumps(exception_event())
    for project_id in ("42", "42", "43"):
        response = await client.post(f"/api/{project_id}/store/", content=body,
                                     headers={"X-Sentry-Auth": f"Sentry sentry_key={sentry_token}, sentry_version=7"})
        assert response.status_code == 200, response.text
    first, repeat, other_project = (a["fingerprint"] for a in await stream_alerts(bus))
    assert first == repeat != other_project


async def test_envelope_endpoint_refuses_a_wrong_key(client, sentry_token) -> None:
    auth = "Sentry sentry_key=aiops_not-a-key, sentry_version=7"
    response = await client.post("/api/42/envelope/", content=envelope("envelope_exception.envelope"),
                                 headers={"X-Sentry-Auth": auth})
    assert response.status_code == 401


async def test_an_envelope_of_more_items_than_the_limit_is_refused_before_the_rest_is_read(
        bus: Bus, client, redis, sentry_token) -> None:
    """The DSN key is public: 262,000 tiny items (12.7 KB gzipped) took ~8 s of the API's CPU before the 413."""
    headers = {"X-Sentry-Auth": f"Sentry sentry_key={sentry_token}, sentry_version=7", "Content-Encoding": "gzip"}
    items = b'{"type":"event"}\n{"message":"boom"}\n' * (MAX_ITEMS + 1)
    body = b"{}\n" + items + b'{"type":"event"}\n{not json\n'  # never read: the parse stops past the limit
    response = await client.post("/api/42/envelope/", content=gzip.compress(body), headers=headers)
    assert response.status_code == 413, response.text
    assert f"at most WEBHOOK_MAX_ITEMS={MAX_ITEMS}" in response.json()["detail"]
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0
    at_limit = b"{}\n" + b'{"type":"client_report"}\n{}\n' * (MAX_ITEMS - 1) + b'{"type":"event"}\n{"message":"boom"}\n'
    response = await client.post("/api/42/envelope/", content=gzip.compress(at_limit), headers=headers)
    assert response.status_code == 200, response.text
    assert [alert["title"] for alert in await stream_alerts(bus)] == ["boom"]


def nested_event(levels: int) -> bytes:
    """An event of `levels` levels: its release nested in lists (orjson parses 1,024 levels)."""
    return b'{"message":"deep","release":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


async def test_an_event_nested_deeper_than_its_alert_carries_is_refused_with_400(
        bus: Bus, client, redis, sentry_token) -> None:
    """The DSN key is public: an event nested 300 levels deep got 500 (the sample kept on its alert could not be
    written: orjson writes 254 levels). The envelope is refused as one whose item is not JSON, nothing published."""
    headers = {"X-Sentry-Auth": f"Sentry sentry_key={sentry_token}, sentry_version=7"}
    good = b'{"type":"event"}\n{"message":"fine"}\n'
    for levels in (MAX_EVENT_NESTING + 1, 300, 1_000, 1_100):  # 1,100: past what orjson parses (1,024)
        body = b"{}\n" + good + b'{"type":"event"}\n' + nested_event(levels) + b"\n"
        for path, content in (("/api/42/envelope/", body), ("/api/42/store/", nested_event(levels))):
            response = await client.post(path, content=content, headers=headers)
            assert response.status_code == 400, response.text
            assert f"nested deeper than {MAX_EVENT_NESTING} levels" in response.json()["detail"]
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0
    response = await client.post("/api/42/store/", content=nested_event(MAX_EVENT_NESTING), headers=headers)
    assert response.status_code == 200, response.text
    (alert,) = await stream_alerts(bus)
    assert alert["details"]["sample_event"] == orjson.loads(nested_event(MAX_EVENT_NESTING))


@pytest.mark.parametrize("levels", [MAX_BODY_NESTING + 1, 1_100])
async def test_an_envelope_or_item_header_nested_too_deep_is_400_naming_the_bound(
        bus: Bus, client, redis, sentry_token, levels: int) -> None:
    """The headers are held to the one depth rule of JSON bodies (webhooks/body.py): past what orjson parses
    they were 'not valid JSON', as if the SDK had sent something else."""
    headers = {"X-Sentry-Auth": f"Sentry sentry_key={sentry_token}, sentry_version=7"}
    deep = b'{"sdk":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"
    item = b'{"type":"event"}\n{"message":"fine"}\n'
    for body in (deep + b"\n" + item, b"{}\n" + deep + b'\n{"message":"fine"}\n'):
        response = await client.post("/api/42/envelope/", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert f"nested deeper than {MAX_BODY_NESTING} levels" in response.json()["detail"]
    assert await redis.xlen(bus.key(ALERTS_INGESTED)) == 0


async def test_real_sdk_in_a_subprocess(bus: Bus, start_service, service_headers, clean_db, redis, tmp_path) -> None:
    api = start_service("aiops-api")
    async with httpx.AsyncClient(base_url=api.url) as client:
        created = await client.post("/api/v1/sources", json={"name": "shop", "kind": "sentry"},
                                    headers=service_headers())
    key = created.json()["token"]
    script = tmp_path / "app.py"
    script.write_text(SDK_SCRIPT)
    for algo in ("br", "gzip"):
        dsn = f"http://{key}@127.0.0.1:{api.url.rsplit(':', 1)[1]}/42"
        run = subprocess.run([sys.executable, str(script), dsn, algo], capture_output=True, text=True, timeout=60)
        assert "RuntimeError: unhandled at exit" in run.stderr
    alerts = await stream_alerts(bus, source="shop")
    titles = [a["title"] for a in alerts]
    assert titles.count("ValueError: card declined for order 17") == 2  # once per run (br, gzip)
    assert "KeyError: 'user-42'" in titles and "RuntimeError: unhandled at exit" in titles
    assert len(alerts) == 8  # 4 errors per run; the transactions were skipped
    groups = {a["title"]: a["fingerprint"] for a in alerts}
    assert groups["ValueError: card declined for order 17"] == groups["ValueError: card declined for order 18"]
    assert len(set(groups.values())) == 3
    assert {a["labels"]["release"] for a in alerts} == {"shop@1.2.3"}


def signed(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_hook(client, name: str, resource: str, signature: str | None = None,
                    sent_at: float | None = None) -> httpx.Response:
    body = (PAYLOADS / name).read_bytes()
    headers = {"Sentry-Hook-Resource": resource, "Sentry-Hook-Timestamp": str(int(sent_at or time.time())),
               "Request-ID": "2d8e1d7c-9b9e-4d7b-8c6f-2b8a0c8f6c0e", "Content-Type": "application/json",
               "Sentry-Hook-Signature": signature or signed(body)}
    return await client.post("/webhooks/sentry", content=body, headers=headers)


async def test_integration_webhooks_signed_with_the_client_secret(bus: Bus, client, redis, sentry_token) -> None:
    for name, resource in [("hook_issue_created.json", "issue"), ("hook_error.json", "error"),
                           ("hook_event_alert.json", "event_alert"), ("hook_issue_resolved.json", "issue")]:
        response = await post_hook(client, name, resource)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1
    alerts = await stream_alerts(bus)
    assert {a["fingerprint"] for a in alerts} == {"sentry-issue-1170820242"}  # issue and its events: one alert
    assert [a["status"] for a in alerts] == ["firing", "firing", "firing", "resolved"]
    assert {a["signal"] for a in alerts} == {"error"}
    assert alerts[2]["details"]["triggered_rule"] == "Send a notification for new issues"
    assert alerts[0]["url"] == "https://sentry.io/organizations/acme/issues/1170820242/"


async def test_other_hook_resources_are_acknowledged_and_skipped(client, redis, sentry_token) -> None:
    response = await post_hook(client, "hook_issue_created.json", "installation")
    assert (response.status_code, response.json()["accepted"]) == (200, 0)


@pytest.mark.parametrize("signature", ["0" * 64, "", "not-hex", signed(b"another body")])
async def test_a_bad_signature_is_refused(bus: Bus, client, redis, sentry_token, signature) -> None:
    response = await post_hook(client, "hook_issue_created.json", "issue", signature=signature or " ")
    assert response.status_code == 401
    assert await stream_alerts(bus) == []


def dsn_key_forms(key: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The ways an SDK presents its DSN key: (query string, headers)."""
    return {"header": ("", {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"}),
            "query": (f"?sentry_key={key}&sentry_version=7", {})}


@pytest.mark.parametrize("form", ["header", "query"])
async def test_a_dsn_key_alone_is_refused_on_the_integration_webhook(bus: Bus, client, redis, sentry_token, form) -> None:
    """The DSN key is public (it ships in browser code): on the integration webhook only the signature counts."""
    query, headers = dsn_key_forms(sentry_token)[form]
    body = (PAYLOADS / "hook_issue_created.json").read_bytes()
    response = await client.post(f"/webhooks/sentry{query}", content=body,
                                 headers={**headers, "Sentry-Hook-Resource": "issue"})
    assert response.status_code == 401
    assert "Sentry-Hook-Signature" in response.json()["detail"]
    assert await stream_alerts(bus) == []


@pytest.mark.parametrize("form", ["header", "query"])
@pytest.mark.parametrize("path", ["/webhooks/generic", "/webhooks/logs", "/webhooks/telegraf",
                                  "/webhooks/alertmanager"])
async def test_a_dsn_key_is_refused_off_the_sdk_endpoints(bus: Bus, client, redis, sentry_token, form, path) -> None:
    query, headers = dsn_key_forms(sentry_token)[form]
    response = await client.post(f"{path}{query}", json={"title": "injected"}, headers=headers)
    assert response.status_code == 401
    # Presented as a source token, it is still a sentry source's: refused by every other receiver.
    response = await client.post(path, json={"title": "injected"}, headers={"X-AIOps-Token": sentry_token})
    assert response.status_code == 403
    assert [await redis.xlen(s) for s in (bus.key(ALERTS_INGESTED), bus.key(LOGS_INGESTED), bus.key(METRICS_INGESTED))] == [0, 0, 0]


async def test_a_signature_by_another_kind_of_source_is_forbidden(bus: Bus, client, redis, make_source) -> None:
    await make_source("nagios", kind="generic", config={"client_secret": CLIENT_SECRET})
    response = await post_hook(client, "hook_issue_created.json", "issue")
    assert response.status_code == 403
    assert await stream_alerts(bus, source="nagios") == []


async def test_the_client_secret_is_never_shown(client, auth, sentry_token) -> None:
    (source,) = (await client.get("/api/v1/sources", headers=auth())).json()
    assert source["config"]["client_secret"] == "********"


# The client secret: at least 32 characters, encrypted at rest (SECRETS_KEY); a replay window on deliveries.
async def stored_config(sessions, name: str) -> dict:
    async with sessions() as session:
        return (await session.scalar(select(Source).where(Source.name == name))).config


async def test_the_client_secret_is_encrypted_at_rest(client, sessions, make_source) -> None:
    await make_source("shop-sentry", kind="sentry", config={"client_secret": CLIENT_SECRET})
    stored = await stored_config(sessions, "shop-sentry")
    assert CLIENT_SECRET not in orjson.dumps(stored).decode()
    assert set(stored["client_secret"]) == {"fernet"}
    assert (await post_hook(client, "hook_issue_created.json", "issue")).status_code == 200


@pytest.mark.parametrize("secret", ["", "x" * 31, 12345])
async def test_a_short_client_secret_is_refused(client, auth, secret) -> None:
    body = {"name": "shop-sentry", "kind": "sentry", "config": {"client_secret": secret}}
    response = await client.post("/api/v1/sources", json=body, headers=auth())
    assert response.status_code == 422
    assert "client_secret must be a string of at least 32 characters" in response.text


# A minute past the 300 s window either way: a timestamp just ahead of the window drifts into it while the
# request is in flight on a loaded machine.
@pytest.mark.parametrize(("age_s", "status", "detail"), [
    (360, 401, "replay"), (-360, 401, "replay"), (None, 400, "Sentry-Hook-Timestamp header"),
])
async def test_deliveries_outside_the_replay_window_are_refused(bus: Bus, client, redis, make_source, age_s, status,
                                                               detail) -> None:
    await make_source("shop-sentry", kind="sentry", config={"client_secret": CLIENT_SECRET})
    body = b'{"action": "created", "data": {"issue": {"id": "1"}}}'
    headers = {"Sentry-Hook-Resource": "issue", "Sentry-Hook-Signature": signed(body)}
    if age_s is not None:
        headers["Sentry-Hook-Timestamp"] = str(int(time.time() - age_s))
    response = await client.post("/webhooks/sentry", content=body, headers=headers)
    assert (response.status_code, detail in response.json()["detail"]) == (status, True)
    assert await stream_alerts(bus) == []
    assert (await post_hook(client, "hook_issue_created.json", "issue", sent_at=time.time() - 250)).status_code == 200


async def test_a_replayed_delivery_is_taken_once_long_after_the_window(bus: Bus, client, redis, sentry_token,
                                                                       api_settings) -> None:
    """Same body and signature, a fresh timestamp (the timestamp is not signed): answered, nothing taken. The
    signature is remembered SENTRY_HOOK_SEEN_S (7 days), not only the timestamp's window (2 x 300 s): a delivery
    captured and sent again after the window, with a fresh timestamp, is still a replay."""
    first = await post_hook(client, "hook_issue_created.json", "issue")
    replayed = await post_hook(client, "hook_issue_created.json", "issue", sent_at=time.time() + 5)
    assert (first.json()["accepted"], replayed.status_code, replayed.json()) == (1, 200, {"accepted": 0, "event_ids": []})
    assert len(await stream_alerts(bus)) == 1
    key = seen_key(api_settings, "hook_issue_created.json")
    assert api_settings.sentry_hook_seen_s - 60 < await redis.ttl(key) <= api_settings.sentry_hook_seen_s
    assert api_settings.sentry_hook_seen_s == 7 * 24 * 3600
    other = await post_hook(client, "hook_issue_resolved.json", "issue")  # another delivery is taken
    assert other.json()["accepted"] == 1


async def test_a_delivery_refused_with_503_is_taken_when_retried(bus: Bus, client, redis, sentry_token,
                                                                 monkeypatch) -> None:
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)
    monkeypatch.setattr(sentry_hooks, "ALERTS_INGESTED", StreamSpec(ALERTS_INGESTED.name, maxlen=10))
    await bus.ensure_group(ALERTS_INGESTED, "slow-reader")
    await bus.publish_many(ALERTS_INGESTED, [Envelope(type="alert.received", source="test") for _ in range(9)])
    assert (await post_hook(client, "hook_issue_created.json", "issue")).status_code == 503
    await redis.xgroup_destroy(bus.key(ALERTS_INGESTED), "slow-reader")  # the workers caught up
    retried = await post_hook(client, "hook_issue_created.json", "issue")
    assert (retried.status_code, retried.json()["accepted"]) == (200, 1)


def seen_key(api_settings, name: str) -> str:
    """The key that marks a delivery of the payload `name` taken by the test's source."""
    return api_settings.redis_key(sentry_hooks.SEEN_KEY_PREFIX, "shop-sentry", signed((PAYLOADS / name).read_bytes()))


async def test_a_delivery_is_marked_taken_only_once_its_events_are_on_the_stream(bus: Bus, client, redis, sentry_token,
                                                                                 api_settings) -> None:
    """A process that dies between the two leaves the delivery unmarked, so that Sentry's retry gets through: marked
    first, every retry would be dropped as a replay for SENTRY_HOOK_SEEN_S. Redis's MONITOR gives the order."""
    key, stream = seen_key(api_settings, "hook_issue_created.json"), bus.key(ALERTS_INGESTED)
    commands: list[str] = []
    async with redis.monitor() as monitor:
        assert (await post_hook(client, "hook_issue_created.json", "issue")).status_code == 200
        async with asyncio.timeout(30):
            while not commands or not commands[-1].startswith(f"SET {key} "):
                command = (await monitor.next_command())["command"]
                commands += [command] if key in command or stream in command else []
    assert [c.split()[0] for c in commands if c.startswith(("XADD", "SET"))] == ["XADD", "SET"]


async def test_a_delivery_published_again_after_a_crash_keeps_its_event_ids(bus: Bus, client, redis, sentry_token,
                                                                            api_settings) -> None:
    """Published but not yet marked taken when the process died: the retry is published again under the same event
    ids, which the worker's idempotency ledger drops (at least once, stored once)."""
    first = await post_hook(client, "hook_issue_created.json", "issue")
    await redis.delete(seen_key(api_settings, "hook_issue_created.json"))  # what the crash left
    retried = await post_hook(client, "hook_issue_created.json", "issue")
    assert (first.json()["accepted"], retried.json()) == (1, first.json())
    ids = [Envelope.from_entry(fields).id for _, fields in await redis.xrange(bus.key(ALERTS_INGESTED))]
    assert ids == first.json()["event_ids"] * 2


async def add_plaintext_source(sessions, secret: str = CLIENT_SECRET) -> None:
    """A source as earlier versions stored it: the client secret in plain text."""
    async with sessions() as session:
        session.add(Source(name="shop-sentry", kind="sentry", config={"client_secret": secret},
                           token_hash=hash_token("aiops_legacy"), token_prefix="aiops_legacy", enabled=True))
        await session.commit()


async def test_plaintext_secrets_are_sealed_at_start_and_keep_working(api_settings, clean_db, sessions) -> None:
    await add_plaintext_source(sessions)
    app = create_app(api_settings)
    async with app.router.lifespan_context(app):
        stored = await stored_config(sessions, "shop-sentry")
        assert set(stored["client_secret"]) == {"fernet"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await post_hook(client, "hook_issue_created.json", "issue")).status_code == 200


async def test_a_stored_secret_without_secrets_key_stops_the_start(api_settings, clean_db, sessions) -> None:
    await add_plaintext_source(sessions)
    app = create_app(api_settings.model_copy(update={"secrets_key": ""}))
    with pytest.raises(RuntimeError, match="SECRETS_KEY is not set, but 1 source"):
        async with app.router.lifespan_context(app):
            pass


async def test_without_secrets_key_a_client_secret_cannot_be_stored(api_settings, clean_db, auth) -> None:
    app = create_app(api_settings.model_copy(update={"secrets_key": ""}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        body = {"name": "shop-sentry", "kind": "sentry", "config": {"client_secret": CLIENT_SECRET}}
        response = await client.post("/api/v1/sources", json=body, headers=auth())
    assert response.status_code == 400 and "SECRETS_KEY is not set" in response.json()["detail"]
