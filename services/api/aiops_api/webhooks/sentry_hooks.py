"""POST /webhooks/sentry: Sentry's integration webhooks (an internal integration's webhook URL).

Authenticated by `Sentry-Hook-Signature`, the hex HMAC-SHA256 of the raw body keyed with the
integration's client secret (the source's `config["client_secret"]`), checked in deps.py before the
body is parsed. Nothing else authenticates here: a source token or the (public) DSN key gets 401.
The resource comes in `Sentry-Hook-Resource`:
- `issue` (created, resolved, assigned, archived, unresolved): the issue as an alert; resolved and
  archived resolve it;
- `error` and `event_alert` (an alert rule fired): the event as an alert, grouped by its issue id;
- anything else (installation, comment, metric_alert, ...) is acknowledged and skipped.
Alerts are keyed `sentry-issue-<issue id>`, so an issue and its events land on one alert row.

A delivery is taken once: its signature (the HMAC of the body) is remembered in Redis for SENTRY_HOOK_SEEN_S
(7 days). That, not the timestamp's age check in deps.py, is what stops replays: Sentry-Hook-Timestamp and
Request-ID are not signed, so a captured delivery can be sent again with a fresh timestamp at any time. A
replay, or Sentry's own retry, is answered 200 with nothing accepted. Two deliveries with byte-identical bodies
within that time count as one: a body carries the issue's state, so only a repeat of the same change with
nothing else changed is lost.

The delivery is marked taken only once its events are on the stream, never before: a process that dies between
the two (or a publish that fails) leaves it unmarked, and the retry gets through. Marked first, a death before the
publish would drop every retry as a replay. Published twice instead (that retry, or two copies racing), its events
keep their ids, derived from the source and the signature, and the worker's idempotency ledger stores them once.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from aiops_api.deps import BusDep, RedisDep, SettingsDep, sentry_hook_source
from aiops_api.sources.credentials import SourceIdentity
from aiops_api.webhooks.body import documented_body, json_member, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_api.webhooks.generic import WebhookAccepted
from aiops_api.webhooks.sentry_events import LEVELS, event_to_alert
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, URL_MAX_CHARS, AlertPayload, AlertStatus, Severity, SignalKind
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED

KIND = SourceKind.sentry  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter(tags=["sentry"])

SentryHookSource = Annotated[SourceIdentity, Depends(sentry_hook_source)]

RESOLVING_ACTIONS = ("resolved", "archived", "ignored")
SEEN_KEY_PREFIX = "aiops:webhooks:sentry:seen"  # + source name + signature: deliveries taken, for SENTRY_HOOK_SEEN_S
_DELIVERY_NAMESPACE = uuid.UUID("9e3f6b2a-4c1d-4b8e-a7f0-5d2c8e1b6a93")  # of the event ids derived from a delivery


def parse_sentry_hook(resource: str, body: bytes) -> list[AlertPayload]:
    document, data = json_member(body, "data", "Sentry webhooks carry their resource in `data`")
    action = str(document.get("action") or "")
    if resource == "issue" and isinstance(data.get("issue"), dict):
        return [issue_alert(action, data["issue"])]
    if resource in ("error", "event_alert"):
        event = data.get("error") if resource == "error" else data.get("event")
        if isinstance(event, dict):
            return [issue_event_alert(event, data.get("triggered_rule"))]
    return []


def issue_alert(action: str, issue: dict[str, Any]) -> AlertPayload:
    project = issue.get("project") if isinstance(issue.get("project"), dict) else {}
    level = str(issue.get("level") or "error")
    return AlertPayload(
        fingerprint=f"sentry-issue-{issue.get('id')}",
        title=str(issue.get("title") or "Sentry issue")[:500],
        description=str(issue.get("culprit") or "")[:20_000],
        severity=LEVELS.get(level, Severity.high),
        status=AlertStatus.resolved if action in RESOLVING_ACTIONS else AlertStatus.firing,
        labels={k: str(v) for k, v in {"project": project.get("slug"), "level": level}.items() if v},
        url=str(issue.get("web_url") or issue.get("permalink") or "")[:URL_MAX_CHARS] or None,
        details={"action": action, "issue_id": issue.get("id"), "short_id": issue.get("shortId"),
                 "count": issue.get("count"), "first_seen": issue.get("firstSeen"),
                 "last_seen": issue.get("lastSeen"), "status": issue.get("status")},
        signal=SignalKind.error,
    )


def issue_event_alert(event: dict[str, Any], triggered_rule: Any) -> AlertPayload:
    alert = event_to_alert(event, str(event.get("project") or ""))
    if event.get("issue_id"):
        alert.fingerprint = f"sentry-issue-{event['issue_id']}"
    alert.url = str(event.get("web_url") or event.get("url") or "")[:URL_MAX_CHARS] or None
    if triggered_rule:
        alert.details["triggered_rule"] = str(triggered_rule)
    return alert


@router.post("/webhooks/sentry", operation_id="webhook_sentry",
             openapi_extra=documented_body("application/json", {"type": "object"}))
async def receive_sentry_hook(
    request: Request, source: SentryHookSource, bus: BusDep, redis: RedisDep, settings: SettingsDep,
    sentry_hook_resource: Annotated[str, Header(description="issue, error, event_alert, ...")] = "",
) -> WebhookAccepted:
    body = await read_body(request, settings.max_body_bytes)
    alerts = parse_sentry_hook(sentry_hook_resource, body)
    # The dependency checked the signature: only authenticated deliveries take a key.
    signature = request.headers["sentry-hook-signature"].strip().lower()
    seen = settings.redis_key(SEEN_KEY_PREFIX, source.name, signature)
    if await redis.exists(seen):
        return WebhookAccepted(accepted=0, event_ids=[])
    envelopes = [Envelope(id=uuid.uuid5(_DELIVERY_NAMESPACE, f"{source.name}|{signature}|{i}").hex, type=ALERT_RECEIVED,
                          source=source.name, payload=a.model_dump(mode="json")) for i, a in enumerate(alerts)]
    envelopes = await publish_request(bus, ALERTS_INGESTED, envelopes, len(body), settings)
    await redis.set(seen, b"1", ex=settings.sentry_hook_seen_s)
    return WebhookAccepted(accepted=len(envelopes), event_ids=[e.id for e in envelopes])
