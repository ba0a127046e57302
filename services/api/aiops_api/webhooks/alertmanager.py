"""POST /webhooks/alertmanager: Alertmanager's `webhook_config` notification (payload version 4).

Each alert of the group becomes one `alert.received` keyed by Alertmanager's own fingerprint, so
repeats and the later `resolved` land on the same alert row. Alertmanager drops a notification for
good on any 4xx (429 included) and retries only 5xx: overload answers 503 with Retry-After (see
errors.py), and the only 4xx we send are authentication failures and bodies that are not a
notification at all. An alert Alertmanager would never send (a bad status or time) is left out and
listed in the answer, never at the cost of the good alerts of its group. So are the alerts past the first
WEBHOOK_MAX_ITEMS of a notification, unread (counted as rejected, one error naming the cap): set `max_alerts` in
the webhook_config to at most that, and Alertmanager says how many it cut (`truncatedAlerts`). 93,000 minimal
alerts in 5 MB took 4.4 s of the event loop to read before the expansion limit refused them all.

The notification's own fields (`receiver`, `groupKey`, `externalURL`) are copied into each of its alerts,
so they are cut to the contract's bounds first (a long one must not grow with the alert count), and the
request as a whole stays within the expansion limit (expansion.py). Labels and annotations are cut by
the alert payload itself: one overlong value never costs the alert or the others of the group.
"""

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, model_validator

from aiops_api.deps import BusDep, SettingsDep, webhook_source_of
from aiops_api.errors import BadRequest
from aiops_api.sources.credentials import SourceIdentity
from aiops_api.webhooks.body import documented_body, json_document, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_api.webhooks.generic import SEVERITY_ALIASES, WebhookAccepted
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import (
    ALERT_RECEIVED,
    FINGERPRINT_MAX_CHARS,
    LABEL_VALUE_MAX_CHARS,
    TITLE_MAX_CHARS,
    URL_MAX_CHARS,
    AlertPayload,
    AlertStatus,
    Severity,
    SignalKind,
)
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED

KIND = SourceKind.alertmanager  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter()

AlertmanagerSource = Annotated[SourceIdentity, Depends(webhook_source_of(KIND))]

MAX_ERRORS_LISTED = 20  # rejected alerts described in the answer (all are counted)

# Labels that name the machine or the service an alert is about, most specific first.
HOST_LABELS = ("host", "hostname", "node", "instance")
SERVICE_LABELS = ("service", "job", "app", "namespace")


class AmAlert(BaseModel):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None  # 0001-01-01 while firing with no end known
    generatorURL: str = ""
    fingerprint: str = ""


class AlertErrorRead(BaseModel):
    alert: int  # 0-based position in the notification's `alerts`
    error: str


class AmNotification(BaseModel):
    version: str = "4"
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AmAlert]
    rejected: list[AlertErrorRead] = Field(default_factory=list)  # ours: the alerts left out, with the reason
    left_out: int = 0  # ours: how many alerts are left out (bad, or past the validation context's `max_alerts`)

    @model_validator(mode="before")
    @classmethod
    def _keep_good_alerts(cls, data: Any, info: ValidationInfo) -> Any:
        """Each alert is read on its own, so that a bad one is left out instead of failing its group; those past
        the first `max_alerts` are not read."""
        if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
            return data
        cap = (info.context or {}).get("max_alerts", len(data["alerts"]))
        good, rejected = [], []
        for index, raw in enumerate(data["alerts"][:cap]):
            try:
                good.append(AmAlert.model_validate(raw))
            except ValidationError as exc:
                rejected.append(AlertErrorRead(alert=index, error=_first_error(exc)))
        if len(data["alerts"]) > cap:
            rejected.append(AlertErrorRead(alert=cap, error=f"alerts {cap} to {len(data['alerts']) - 1}: past "
                                           f"WEBHOOK_MAX_ITEMS={cap} alerts per notification, left out (set max_alerts)"))
        return {**data, "alerts": good, "rejected": rejected, "left_out": len(data["alerts"]) - len(good)}


class AlertmanagerAccepted(WebhookAccepted):
    rejected: int
    errors: list[AlertErrorRead]  # the first alerts left out, with the reason


def parse_alertmanager(body: bytes, max_alerts: int) -> AmNotification:
    try:
        notification = AmNotification.model_validate(json_document(body), context={"max_alerts": max_alerts})
    except ValidationError as exc:
        raise BadRequest(f"body.{_first_error(exc)}") from exc
    if notification.rejected and not notification.alerts:
        first = notification.rejected[0]
        raise BadRequest(f"body.alerts.{first.alert}.{first.error}")
    return notification


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"


def to_alert(notification: AmNotification, alert: AmAlert) -> AlertPayload:
    labels, annotations = alert.labels, alert.annotations
    resolved = alert.status == "resolved"
    return AlertPayload(
        fingerprint=_fingerprint(alert),
        title=(annotations.get("summary") or labels.get("alertname") or _label_set(labels))[:TITLE_MAX_CHARS],
        description=(annotations.get("description") or annotations.get("message") or "")[:20_000],
        severity=_severity(labels.get("severity")),
        status=AlertStatus.resolved if resolved else AlertStatus.firing,
        host=_first(labels, HOST_LABELS),
        service=_first(labels, SERVICE_LABELS),
        labels=labels,
        annotations=annotations,
        # The state change's own time, so a late `firing` never overrides a newer `resolved`.
        occurred_at=alert.endsAt if resolved and alert.endsAt else alert.startsAt,
        url=alert.generatorURL[:URL_MAX_CHARS] or None,
        details=_details(notification, alert),
        signal=SignalKind.alert,
    )


def _details(notification: AmNotification, alert: AmAlert) -> dict[str, Any]:
    return {"receiver": notification.receiver[:LABEL_VALUE_MAX_CHARS],
            "group_key": notification.groupKey[:LABEL_VALUE_MAX_CHARS],
            "external_url": notification.externalURL[:URL_MAX_CHARS], "starts_at": alert.startsAt.isoformat(),
            "ends_at": alert.endsAt.isoformat() if alert.endsAt and alert.endsAt.year > 1 else None}


def _severity(value: str | None) -> Severity:
    word = (value or "").lower()
    word = SEVERITY_ALIASES.get(word, word)
    return Severity(word) if word in Severity.__members__ else Severity.medium


def _first(labels: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((labels[n][:255] for n in names if labels.get(n)), None)


def _fingerprint(alert: AmAlert) -> str:
    """Alertmanager's own fingerprint (16 hex digits). A hand-made payload without one is keyed by its label
    set; one longer than the payload allows is keyed by its digest, so it stays one stable key."""
    if not alert.fingerprint:
        return hashlib.sha256(orjson.dumps(alert.labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    if len(alert.fingerprint) > FINGERPRINT_MAX_CHARS:
        return "sha256-" + hashlib.sha256(alert.fingerprint.encode()).hexdigest()
    return alert.fingerprint


def _label_set(labels: dict[str, str]) -> str:
    """A title for an alert with neither summary nor alertname: its labels, as Prometheus writes them."""
    if not labels:
        return "Alertmanager alert"
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


@router.post("/webhooks/alertmanager", operation_id="webhook_alertmanager",
             openapi_extra=documented_body("application/json", {"type": "object"}))
async def receive_alertmanager(
    request: Request, source: AlertmanagerSource, bus: BusDep, settings: SettingsDep
) -> AlertmanagerAccepted:
    body = await read_body(request, settings.max_body_bytes)
    notification = parse_alertmanager(body, settings.webhook_max_items)
    envelopes = (
        Envelope(type=ALERT_RECEIVED, source=source.name, payload=to_alert(notification, a).model_dump(mode="json"))
        for a in notification.alerts
    )
    published = await publish_request(bus, ALERTS_INGESTED, envelopes, len(body), settings)
    return AlertmanagerAccepted(accepted=len(published), event_ids=[e.id for e in published],
                                rejected=notification.left_out, errors=notification.rejected[:MAX_ERRORS_LISTED])
