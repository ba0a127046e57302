"""POST /webhooks/redfish/{source_id}: the events a Redfish BMC pushes (DMTF DSP0266 "Eventing") to the
subscription the source's poller made on its EventService (aiops_worker/producers/redfish.py).

Authenticated by the Event's `Context`: the poller subscribed with the source's own secret (derived from
SECRETS_KEY, aiops_contracts.pollers.push_context) followed by "." and an id of that poller, which the BMC
sends back with every Event; the secret is compared in constant time. The source (from the path) must be an enabled Redfish source, checked before the body is
read.

Each record of `Events` becomes an alert of the source, keyed by its OriginOfCondition like the poller's alert
of that component (so a pushed fan failure and the next poll's are one alert): Warning and Critical fire it,
OK resolves it. A record with no severity (or another one) is informational: an info alert of its own
(component and MessageId), which never touches the component's alert. The envelope id comes from the Event's
Id, the record's EventId and EventTimestamp (a rebooted BMC counts its ids again), so a redelivery is dropped.

Push and poll agree because the poller's reading wins: what a push fired or resolved is also noted by
component in Redis (aiops_contracts.pollers.note_redfish_pushes), and the poller's next poll that reads the
component sends its own state where they differ (a pushed Warning the BMC reads OK is resolved, a pushed OK
for a component still failing fires again). Each delivery's notes carry an id of their own, in a hash beside the
status (redfish_push_ids_key; the status stays the value alone, which a worker of before reads during a rolling
upgrade), so that the poll, which deletes the notes it read once its result is published, leaves alone one of
the same status pushed since its reading. A component the poller does not read (a drive) keeps
what the BMC pushed.
"""

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, status

from aiops_api.deps import BusDep, SecretBoxDep, SessionDep, SettingsDep
from aiops_api.errors import BadRequest
from aiops_api.webhooks.body import documented_body, json_document, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_api.webhooks.generic import WebhookAccepted
from aiops_contracts.db import Source
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, TITLE_MAX_CHARS, AlertPayload, AlertStatus, Severity, SignalKind
from aiops_contracts.pollers import (
    REDFISH_SEVERITIES,
    note_redfish_pushes,
    push_context,
    redfish_fingerprint,
    redfish_pushed_key,
)
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED

KIND = SourceKind.redfish  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter(tags=["redfish"])
_EVENT_NAMESPACE = uuid.UUID("6f1d3b0e-52a4-4c8e-9b7d-2e5a8c4f1d93")
PUSHED_TTL_S = 7 * 86_400  # what a BMC pushed about a component its poller never reads is forgotten after this


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
    event = json_document(body)
    context = event.get("Context") if isinstance(event, dict) else None
    expected = push_context(box, str(source.id))
    secret = context.partition(".")[0] if isinstance(context, str) else ""
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Context: not this source's (events are taken from the "
                            "subscription its poller made only)")
    return Delivery(source, event, len(body))


redfish_event_source.source_kind = KIND  # type: ignore[attr-defined]  # read by the authorisation matrix test
RedfishDelivery = Annotated[Delivery, Depends(redfish_event_source)]


def event_alerts(source: Source, event: dict[str, Any]) -> list[tuple[str | None, AlertPayload]]:
    """(the record's delivery key or None, its alert) for each record of an Event; a health record's alert
    names its component in details["component"], an informational one does not."""
    records = event.get("Events")
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise BadRequest("body.Events: missing, a Redfish Event carries its records (objects) in `Events`")
    host = urlsplit(source.target or "").hostname or source.target
    alerts = []
    for position, record in enumerate(records):
        health = str(record.get("MessageSeverity") or record.get("Severity") or "")
        message_id = str(record.get("MessageId") or "")
        component = _component(record) or message_id or str(position)
        key = (f"{event.get('Id')}|{record.get('EventId', position)}|{record.get('EventTimestamp')}"
               if event.get("Id") is not None else None)
        about_health = health == "OK" or health in REDFISH_SEVERITIES
        alerts.append((key, AlertPayload(
            fingerprint=redfish_fingerprint(str(source.id), component if about_health else f"{component}|{message_id}"),
            title=f"{str(record.get('Message') or message_id or 'Redfish event')[:400]} on {host}"[:TITLE_MAX_CHARS],
            severity=REDFISH_SEVERITIES.get(health, Severity.info),
            status=AlertStatus.resolved if health == "OK" else AlertStatus.firing,
            host=host, labels={**source.labels, **({"component": component[:200]} if about_health else {})},
            details={"health": health or None, "component": component if about_health else None,
                     "message_id": message_id, "event_type": record.get("EventType"),
                     "message_args": record.get("MessageArgs"), "bmc": source.target, "pushed": True},
            signal=SignalKind.alert)))
    return alerts


def _component(record: dict[str, Any]) -> str:
    """The @odata.id of the resource the record is about (OriginOfCondition), or ""."""
    origin = record.get("OriginOfCondition")
    return str(origin.get("@odata.id") or "") if isinstance(origin, dict) else ""


@router.post("/webhooks/redfish/{source_id}", status_code=status.HTTP_202_ACCEPTED, operation_id="webhook_redfish",
             openapi_extra=documented_body("application/json", {"type": "object"}))
async def receive_redfish_events(delivery: RedfishDelivery, bus: BusDep, settings: SettingsDep) -> WebhookAccepted:
    source = delivery.source
    alerts = event_alerts(source, delivery.event)
    envelopes = [Envelope(**({"id": uuid.uuid5(_EVENT_NAMESPACE, f"{source.id}|{key}").hex} if key else {}),
                          type=ALERT_RECEIVED, source=source.name, payload=alert.model_dump(mode="json"))
                 for key, alert in alerts]
    published = await publish_request(bus, ALERTS_INGESTED, envelopes, delivery.size, settings)
    pushed = {alert.details["component"]: alert.status.value for _, alert in alerts if alert.details["component"]}
    if pushed:  # for the poller, whose next reading of these components wins; the id tells this push from any other
        await note_redfish_pushes(bus.redis, redfish_pushed_key(settings, str(source.id)), pushed, uuid.uuid4().hex,
                                  PUSHED_TTL_S)
    return WebhookAccepted(accepted=len(published), event_ids=[e.id for e in published])
