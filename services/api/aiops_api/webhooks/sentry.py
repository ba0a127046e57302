"""Sentry SDK endpoints: `POST /api/{project_id}/envelope/` (sentry-sdk 2.x and the browser SDKs) and
`POST /api/{project_id}/store/` (sentry-sdk 1.x), so an SDK pointed at `http://<source token>@host/<id>`
works unchanged. The DSN key authenticates (X-Sentry-Auth or `?sentry_key=`); bodies may be plain,
gzip, deflate or brotli.

An envelope is newline-delimited JSON: a header line, then per item a header line (`type`, optional
`length`) and a payload. Error events become alerts (grouping in sentry_events.py); transactions,
sessions, attachments, client reports and any other item are skipped, never refused. An envelope of more
than WEBHOOK_MAX_ITEMS items gets 413 as soon as the parse reaches one more: the DSN key is public, and each
item costs CPU (an SDK sends a few per envelope). An event nested deeper than its alert can carry
(MAX_EVENT_NESTING levels) gets 400 naming the bound, as an item that is not JSON does: nothing of its envelope
is published (an SDK sends one event per envelope).
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from aiops_api.deps import BusDep, SettingsDep, webhook_source_of
from aiops_api.errors import BadRequest, PayloadTooLarge
from aiops_api.sources.credentials import SourceIdentity
from aiops_api.webhooks.body import MAX_BODY_NESTING, documented_body, json_document, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_api.webhooks.sentry_events import MAX_EVENT_NESTING, event_to_alert
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED

KIND = SourceKind.sentry  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter(tags=["sentry"])

# The DSN key authenticates here and only here: the SDKs cannot sign, and a DSN is public anyway.
SentrySdkSource = Annotated[SourceIdentity, Depends(webhook_source_of(KIND, dsn_key=True))]
ProjectId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The DSN's project id")]


@dataclass
class SentryEnvelope:
    event_id: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # item type -> items not used


class SentryAccepted(BaseModel):
    id: str | None  # the event id, as Sentry answers


def parse_envelope(body: bytes, max_items: int) -> SentryEnvelope:
    header_line, _, rest = body.partition(b"\n")
    header = _json_object(header_line, "envelope header")
    envelope = SentryEnvelope(event_id=_event_id(header.get("event_id")))
    for count, (item_header, payload) in enumerate(_items(rest), start=1):
        if count > max_items:
            raise PayloadTooLarge(f"body: more than {max_items} items in one envelope, at most WEBHOOK_MAX_ITEMS="
                                  f"{max_items}; send fewer items per envelope")
        item_type = str(item_header.get("type") or "")
        if item_type == "event":
            envelope.events.append(_event(payload, "event item"))
        else:
            envelope.skipped[item_type] += 1
    return envelope


def _items(rest: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
    """(item header, payload) pairs: a payload is `length` bytes when the header says, else one line."""
    pos = 0
    while pos < len(rest):
        header_end = _line_end(rest, pos)
        header_line = rest[pos:header_end]
        pos = header_end + 1
        if not header_line.strip():
            continue
        header = _json_object(header_line, "item header")
        length = header.get("length")
        if isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            if pos + length > len(rest):
                raise BadRequest(f"envelope: a {header.get('type')!r} item is shorter than its length {length}")
            payload, pos = rest[pos:pos + length], pos + length
            pos += rest[pos:pos + 1] == b"\n"
        else:
            payload_end = _line_end(rest, pos)
            payload, pos = rest[pos:payload_end], payload_end + 1
        yield header, payload


def _line_end(data: bytes, start: int) -> int:
    end = data.find(b"\n", start)
    return len(data) if end < 0 else end


def _json_object(raw: bytes, what: str, levels: int = MAX_BODY_NESTING) -> dict[str, Any]:
    """A JSON object of at most `levels` levels (body.json_document's one depth rule): 400 naming `what` else."""
    value = json_document(raw, f"body: the {what}", levels)
    if not isinstance(value, dict):
        raise BadRequest(f"body: the {what} must be a JSON object")
    return value


def _event(raw: bytes, what: str) -> dict[str, Any]:
    """An event object that its alert can carry: MAX_EVENT_NESTING levels (sentry_events.fits_an_alert)."""
    return _json_object(raw, what, MAX_EVENT_NESTING)


def _event_id(value: Any) -> str | None:
    return str(value) if value else None


def to_envelopes(source: str, project_id: str, events: Iterable[dict[str, Any]]) -> Iterator[Envelope]:
    """The events' alerts, built lazily (the expansion limit is checked as they are built)."""
    for event in events:
        alert = event_to_alert(event, project_id)
        yield Envelope(type=ALERT_RECEIVED, source=source, payload=alert.model_dump(mode="json"))


@router.post("/api/{project_id}/envelope/", operation_id="sentry_envelope",
             openapi_extra=documented_body("text/plain"))  # the SDK says application/x-sentry-envelope
async def receive_envelope(
    project_id: ProjectId, request: Request, source: SentrySdkSource, bus: BusDep, settings: SettingsDep
) -> SentryAccepted:
    body = await read_body(request, settings.max_body_bytes)
    envelope = parse_envelope(body, settings.webhook_max_items)
    await publish_request(bus, ALERTS_INGESTED, to_envelopes(source.name, project_id, envelope.events), len(body),
                          settings)
    first_event = envelope.events[0].get("event_id") if envelope.events else None
    return SentryAccepted(id=envelope.event_id or _event_id(first_event))


@router.post("/api/{project_id}/store/", operation_id="sentry_store",
             openapi_extra=documented_body("application/json", {"type": "object"}))
async def receive_store(
    project_id: ProjectId, request: Request, source: SentrySdkSource, bus: BusDep, settings: SettingsDep
) -> SentryAccepted:
    body = await read_body(request, settings.max_body_bytes)
    event = _event(body, "event")
    await publish_request(bus, ALERTS_INGESTED, to_envelopes(source.name, project_id, [event]), len(body), settings)
    return SentryAccepted(id=_event_id(event.get("event_id")))
