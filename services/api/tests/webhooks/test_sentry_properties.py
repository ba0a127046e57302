"""Properties of the Sentry parsers: an envelope the real SDK serialises gives its events back (items with or
without `length`, attachments beside them), any body gives events or BadRequest, and any event object becomes
an alert."""

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from sentry_sdk.envelope import Envelope, Item, PayloadRef

from aiops_api.errors import BadRequest
from aiops_api.webhooks.sentry import parse_envelope
from aiops_api.webhooks.sentry_events import event_to_alert

PROPERTIES = settings(max_examples=100, deadline=None, derandomize=True)
MAX_ITEMS = 100  # WEBHOOK_MAX_ITEMS of the tests' API
SENTRY_KEYS = ("event_id", "level", "timestamp", "message", "logentry", "formatted", "params", "exception", "values",
               "type", "value", "stacktrace", "frames", "in_app", "module", "function", "filename", "lineno",
               "fingerprint", "tags", "server_name", "release", "environment", "culprit", "transaction", "logger")

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_key = st.sampled_from(SENTRY_KEYS) | st.text(max_size=6)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(json_key, inner, max_size=4), max_leaves=20)
frame = st.dictionaries(st.sampled_from(["module", "function", "filename", "abs_path", "lineno", "in_app"]), json_scalar)
exception = st.dictionaries(st.sampled_from(["type", "value", "stacktrace"]),
                            json_scalar | st.fixed_dictionaries({"frames": st.lists(frame | json_scalar, max_size=3)}))
# What SDKs send, every part optional and of any type where they might differ.
shaped_event = st.fixed_dictionaries({}, optional={
    "exception": st.fixed_dictionaries({"values": st.lists(exception | json_scalar, max_size=3)})
    | st.lists(exception, max_size=2) | json_scalar,
    "fingerprint": st.lists(json_scalar | st.just("{{ default }}"), max_size=3) | json_scalar,
    "tags": st.dictionaries(st.sampled_from(["service", "x"]), json_value)
    | st.lists(st.lists(json_scalar, min_size=1, max_size=3), max_size=3),
    "logentry": st.dictionaries(st.sampled_from(["message", "formatted", "params"]), json_value) | json_scalar,
    "message": json_value, "timestamp": json_scalar | st.datetimes().map(str), "level": json_scalar,
    "server_name": json_scalar, "release": json_scalar, "environment": json_scalar,
})
event = shaped_event | st.dictionaries(json_key, json_value, max_size=6)
attachment = st.binary(max_size=40)


@PROPERTIES
@given(st.lists(event | attachment, max_size=4), st.none() | st.uuids().map(lambda u: u.hex))
def test_an_sdk_serialised_envelope_gives_its_events_back(items: list[dict | bytes], event_id: str | None) -> None:
    envelope = Envelope(headers={"event_id": event_id} if event_id else {})
    for item in items:
        if isinstance(item, bytes):
            envelope.add_item(Item(payload=PayloadRef(bytes=item), type="attachment"))
        else:
            envelope.add_event(item)
    parsed = parse_envelope(envelope.serialize(), MAX_ITEMS)
    assert parsed.event_id == event_id
    assert parsed.events == [item for item in items if isinstance(item, dict)]
    assert parsed.skipped["attachment"] == sum(isinstance(item, bytes) for item in items)


@PROPERTIES
@given(st.lists(event, max_size=4))
def test_items_without_length_are_one_line_each(events: list[dict[str, Any]]) -> None:
    lines = [b"{}"] + [line for e in events for line in (b'{"type":"event"}', orjson.dumps(e))]
    assert parse_envelope(b"\n".join(lines), MAX_ITEMS).events == events


@PROPERTIES
@given(st.binary(max_size=300) | st.lists(st.sampled_from(
    [b"{}", b'{"type":"event"}', b'{"type":"event","length":5}', b'{"length":-1}', b"\n", b"[]", b"{", b"x"]),
    max_size=12).map(b"".join))
def test_any_body_gives_events_or_bad_request(body: bytes) -> None:
    try:
        envelope = parse_envelope(body, MAX_ITEMS)
    except BadRequest:
        return
    assert all(isinstance(e, dict) for e in envelope.events)


@PROPERTIES
@given(event, st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_any_event_object_becomes_an_alert_of_its_project(sentry_event: dict[str, Any], project_id: str) -> None:
    alert = event_to_alert(sentry_event, project_id)
    assert alert.fingerprint.startswith("sentry-") and alert.labels["project_id"] == project_id
    assert orjson.loads(orjson.dumps(alert.details)) == alert.details  # the sample is JSON as stored
