"""POST /webhooks/redfish/{source_id}: the events a Redfish BMC pushes (DMTF DSP0266 "Eventing") to the
subscription the source's poller made on its EventService (aiops_worker/producers/redfish.py).

Authenticated by the Event's `Context`: the poller subscribed with the source's own secret (derived from
SECRETS_KEY, aiops_contracts.pollers.push_context), which the BMC sends back with every Event; it is compared
in constant time. The source (from the path) must be an enabled Redfish source, checked before the body is
read.

Each record of `Events` becomes an alert of the source, keyed by its OriginOfCondition like the poller's alert
of that component (so a pushed fan failure and the next poll's are one alert): Warning and Critical fire it,
OK resolves it, any other severity is a medium alert. The envelope id comes from the Event's Id and the
record's EventId, so a redelivery is dropped.
"""

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, status

from aiops_api.deps import BusDep, SecretBoxDep, SessionDep, SettingsDep
from aiops_api.errors import BadRequest
from aiops_api.webhooks.body import documented_body, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_api.webhooks.generic import WebhookAccepted
from aiops_contracts.db import Source
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload, AlertStatus, Severity
from aiops_contracts.pollers import REDFISH_SEVERITIES, push_context, redfish_fingerprint
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED

KIND = SourceKind.redfish  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter(tags=["redfish"])
_EVENT_NAMESPACE = uuid.UUID("6f1d3b0e-52a4-4c8e-9b7d-2e5a8c4f1d93")


@dataclass(frozen=True)
class Delivery:
    source: Source
    event: dict[str, Any]
    size: int


async def redfish_event_source(request: Request, source_id: uuid.UUID, session: SessionDep, box: SecretBoxDep,
                               settings: SettingsDep) -> Delivery:
    """The enabled Redfish source of the path, and the Event its BMC sent with that source's Context."""
    source = await session.get(Source, source_id)
    if source is None or source.kind != KIND or not source.enabled or source.revoked_at is not None or box is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "no enabled Redfish source with this id takes events")
    body = await read_body(request, settings.max_body_bytes)
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body: invalid JSON ({exc})") from exc
    context = event.get("Context") if isinstance(event, dict) else None
    expected = push_context(box, str(source.id))
    if not isinstance(context, str) or not hmac.compare_digest(context.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Context: not this source's (events are taken from the "
                            "subscription its poller made only)")
    return Delivery(source, event, len(body))


redfish_event_source.source_kind = KIND  # type: ignore[attr-defined]  # read by the authorisation matrix test
RedfishDelivery = Annotated[Delivery, Depends(redfish_event_source)]


def event_alerts(source: Source, event: dict[str, Any]) -> list[tuple[str | None, AlertPayload]]:
    """(the record's delivery key or None, its alert) for each record of an Event."""
    records = event.get("Events")
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise BadRequest("body.Events: missing, a Redfish Event carries its records (objects) in `Events`")
    host = urlsplit(source.target or "").hostname or source.target
    alerts = []
    for position, record in enumerate(records):
        health = str(record.get("MessageSeverity") or record.get("Severity") or "OK")
        message_id = str(record.get("MessageId") or "")
        component = _component(record) or message_id or str(position)
        key = f"{event.get('Id')}|{record.get('EventId', position)}" if event.get("Id") is not None else None
        alerts.append((key, AlertPayload(
            fingerprint=redfish_fingerprint(str(source.id), component),
            title=f"{str(record.get('Message') or message_id or 'Redfish event')[:400]} on {host}",
            severity=REDFISH_SEVERITIES.get(health, Severity.medium),
            status=AlertStatus.resolved if health == "OK" else AlertStatus.firing,
            host=host, labels={**source.labels, "component": component[:200]},
            details={"health": health, "message_id": message_id, "event_type": record.get("EventType"),
                     "message_args": record.get("MessageArgs"), "bmc": source.target, "pushed": True})))
    return alerts


def _component(record: dict[str, Any]) -> str:
    """The @odata.id of the resource the record is about (OriginOfCondition), or ""."""
    origin = record.get("OriginOfCondition")
    return str(origin.get("@odata.id") or "") if isinstance(origin, dict) else ""


@router.post("/webhooks/redfish/{source_id}", status_code=status.HTTP_202_ACCEPTED, operation_id="webhook_redfish",
             openapi_extra=documented_body("application/json", {"type": "object"}))
async def receive_redfish_events(delivery: RedfishDelivery, bus: BusDep, settings: SettingsDep) -> WebhookAccepted:
    source = delivery.source
    envelopes = [Envelope(**({"id": uuid.uuid5(_EVENT_NAMESPACE, f"{source.id}|{key}").hex} if key else {}),
                          type=ALERT_RECEIVED, source=source.name, payload=alert.model_dump(mode="json"))
                 for key, alert in event_alerts(source, delivery.event)]
    published = await publish_request(bus, ALERTS_INGESTED, envelopes, delivery.size, settings)
    return WebhookAccepted(accepted=len(published), event_ids=[e.id for e in published])
