"""Generic JSON webhook: one alert object, or a list of them, from any tool that can POST JSON.
Only `generic` sources may post here: another integration's credential (a Sentry DSN key is public)
must not be able to inject alerts."""

import hashlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from aiops_api.deps import BusDep, SettingsDep, webhook_source_of
from aiops_api.errors import BadRequest
from aiops_api.sources.credentials import SourceIdentity
from aiops_api.webhooks.body import documented_body, json_document, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload, SignalKind
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED

KIND = SourceKind.generic  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter()

GenericSource = Annotated[SourceIdentity, Depends(webhook_source_of(KIND))]

# Words other tools use for our severities and statuses.
SEVERITY_ALIASES = {"error": "high", "warning": "medium", "warn": "medium", "information": "info", "debug": "info",
                     "fatal": "critical", "page": "critical"}
GENERIC_SIGNALS = [kind.value for kind in SignalKind if kind is not SignalKind.log]  # what a sender may say it is
STATUS_ALIASES = {"ok": "resolved", "closed": "resolved", "problem": "firing", "triggered": "firing", "open": "firing"}


class GenericAlertIn(AlertPayload):
    """An alert as any tool may send it: our alert payload, with the fingerprint optional."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_alias(cls, value: Any) -> Any:
        return SEVERITY_ALIASES.get(value.lower(), value.lower()) if isinstance(value, str) else value

    @field_validator("status", mode="before")
    @classmethod
    def _status_alias(cls, value: Any) -> Any:
        return STATUS_ALIASES.get(value.lower(), value.lower()) if isinstance(value, str) else value

    @field_validator("signal")
    @classmethod
    def _not_a_log_burst(cls, value: SignalKind | None) -> SignalKind | None:
        if value is SignalKind.log:  # log bursts are the log task's: a sender's would be filed among them
            raise ValueError(f"'log' is not accepted here, send one of: {', '.join(GENERIC_SIGNALS)}")
        return value


class WebhookAccepted(BaseModel):
    accepted: int
    event_ids: list[str]


def default_fingerprint(alert: GenericAlertIn) -> str:
    """Same title, host, service and labels means the same alert (its repeats are counted, not duplicated)."""
    key = orjson.dumps([alert.title, alert.host, alert.service, alert.labels], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(key).hexdigest()[:32]


_BODY = TypeAdapter(GenericAlertIn | list[GenericAlertIn])


def _body_schema() -> dict[str, Any]:
    """The body's JSON schema for OpenAPI (the route reads the body itself, see receive_generic)."""
    alert = GenericAlertIn.model_json_schema(ref_template="#/components/schemas/{model}")
    alert.pop("$defs", None)  # Severity, AlertStatus and SignalKind are in the components already (responses use them)
    return {"anyOf": [alert, {"type": "array", "items": alert}]}


def parse_generic(raw: bytes) -> list[GenericAlertIn]:
    """The alerts of a body; 422 for what validation refuses, 400 for a body nested deeper than MAX_BODY_NESTING.
    pydantic's own JSON parser stops at 201 levels (within the rule): a deeper body is parsed again by
    json_document, which holds it to the rule of every JSON webhook."""
    try:
        body = _BODY.validate_json(raw)
    except ValidationError as exc:
        if not _past_the_parsers_depth(exc):
            raise _refused(exc) from None
        try:
            body = _BODY.validate_python(json_document(raw))
        except ValidationError as deep:
            raise _refused(deep) from None
    return body if isinstance(body, list) else [body]


def _past_the_parsers_depth(exc: ValidationError) -> bool:
    return any(e["type"] == "json_invalid" and "recursion limit" in e["msg"] for e in exc.errors())


def _refused(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])


def to_envelopes(source: str, alerts: list[GenericAlertIn]) -> list[Envelope]:
    envelopes = []
    for alert in alerts:
        payload = alert.model_dump(mode="json")
        payload["fingerprint"] = alert.fingerprint or default_fingerprint(alert)
        payload["signal"] = alert.signal or SignalKind.alert  # a tool may say its alert is an error, an anomaly...
        envelopes.append(Envelope(type=ALERT_RECEIVED, source=source, payload=payload))
    return envelopes


@router.post("/webhooks/generic", status_code=status.HTTP_202_ACCEPTED, operation_id="webhook_generic",
             openapi_extra=documented_body("application/json", _body_schema()))
async def receive_generic(
    request: Request, source: GenericSource, bus: BusDep, settings: SettingsDep
) -> WebhookAccepted:
    # Read only now: the source token (a dependency) is checked before a byte of the body is read or parsed.
    raw = await read_body(request, settings.max_body_bytes)
    alerts = parse_generic(raw)
    if not alerts:
        raise BadRequest("body: empty list, send at least one alert")
    if len(alerts) > settings.webhook_max_items:
        raise BadRequest(f"body: {len(alerts)} alerts in one request, at most {settings.webhook_max_items}")
    envelopes = await publish_request(bus, ALERTS_INGESTED, to_envelopes(source.name, alerts), len(raw), settings)
    return WebhookAccepted(accepted=len(envelopes), event_ids=[e.id for e in envelopes])
