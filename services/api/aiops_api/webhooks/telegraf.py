"""POST /webhooks/telegraf: Telegraf's `outputs.http` as shipped, `data_format = "influx"` or `"json"`,
plain or gzip, authenticated by a token header or basic auth (password = source token).

Telegraf resends a whole batch on any non-2xx answer, so bad lines never fail the request: they are
listed (line number and reason) in the 202 answer and counted, and the good lines go on. The answer
comes only after the lines are in the metrics stream.

JSON field types: JSON cannot tell the float 0 from the integer 0 (Telegraf writes whole floats
without a decimal point), and typing numbers by their look makes InfluxDB refuse later points with a
field type conflict. So every JSON number becomes a float, except fields the source's config lists in
`integer_fields` (`"field"` or `"measurement.field"`), which must then hold whole numbers. Line protocol
needs no such rule: it says `1i` or `1`.

The source's config (`TelegrafConfig`) is checked when the source is created (sources/schemas.py): a value it
refuses or a key it lacks is a 422. A value stored before that and refused now is read as unset, and a key it
lacks is ignored, both logged once per source a process (not on every Telegraf flush): the metrics go on as
without them, rather than every body failing (Telegraf would resend them forever).
"""

import hashlib
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request, status
from line_protocol_parser import LineFormatError, parse_line
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops_api.deps import webhook_source_of
from aiops_api.errors import BadRequest
from aiops_api.instrumentation import METRIC_LINES_ACCEPTED, METRIC_LINES_REJECTED
from aiops_api.settings import ApiSettings
from aiops_api.sources.credentials import SourceIdentity
from aiops_api.sources.secrets import SIGNING_SECRET_KEY
from aiops_api.webhooks.body import documented_body, json_document, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_api.webhooks.line_protocol import ValidatedLines, describe, validate_lines
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import METRICS_RECEIVED, MetricsPayload
from aiops_contracts.influx import encode_point
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import METRICS_INGESTED

KIND = SourceKind.telegraf  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter()

TelegrafSource = Annotated[SourceIdentity, Depends(webhook_source_of(KIND))]
log = logging.getLogger(__name__)
# The config warnings logged (source, its token's digest, its config's digest, warning, keys), each once a process
# rather than on every request, and again once the config changes (another refused value under the same key); at
# most WARNED_MAX remembered, then all forgotten at once (a few are logged again).
WARNED_MAX = 1000
_warned: set[tuple[str, str, str, str, tuple[str, ...]]] = set()


class TelegrafConfig(BaseModel):
    """What a telegraf source's `config` sets (besides SIGNING_SECRET_KEY, any pushed kind's); other keys are
    refused."""

    model_config = ConfigDict(extra="forbid")

    data_format: Literal["influx", "json"] | None = None  # None: JSON when the body starts with `{`
    integer_fields: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default=[], max_length=1000)


def telegraf_config(source: SourceIdentity) -> TelegrafConfig:
    """The source's config; keys it lacks and values it refuses (stored before configs were checked) are ignored,
    read as unset."""
    config = {key: value for key, value in source.config.items() if key in TelegrafConfig.model_fields}
    if unknown := sorted(set(source.config) - set(config) - {SIGNING_SECRET_KEY}):
        _warn_once("source config keys unknown, ignored", source, unknown)
    try:
        return TelegrafConfig.model_validate(config)
    except ValidationError as exc:
        refused = sorted({str(error["loc"][0]) for error in exc.errors()})
        _warn_once("source config values refused, read as unset", source, refused)
        return TelegrafConfig.model_validate({k: v for k, v in config.items() if k not in refused})


def _warn_once(message: str, source: SourceIdentity, keys: list[str]) -> None:
    config = {key: value for key, value in source.config.items() if key != SIGNING_SECRET_KEY}
    digest = hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
    warned = (source.name, source.token_hash, digest, message, tuple(keys))
    if warned in _warned:
        return
    if len(_warned) >= WARNED_MAX:
        _warned.clear()
    _warned.add(warned)
    log.warning(message, extra={"source": source.name, "keys": keys})


class MetricError(ValueError):
    """One JSON metric that cannot become a line; the rest of the batch goes on."""


class LineErrorRead(BaseModel):
    line: int  # 1-based line number; for JSON the metric's position in `metrics`
    error: str


class MetricsAccepted(BaseModel):
    accepted: int
    rejected: int
    errors: list[LineErrorRead]  # the first bad lines, with the reason
    event_ids: list[str]


def parse_telegraf(body: bytes, received_ns: int, config: TelegrafConfig) -> ValidatedLines:
    """Validated line protocol from a Telegraf body; the format comes from the source's `data_format` when set,
    else from the body (Telegraf sends JSON as text/plain)."""
    data_format = config.data_format or ("json" if body.lstrip()[:1] == b"{" else "influx")
    if data_format != "json":
        return validate_lines(body, received_ns)
    # Line protocol carries string fields raw, so it is decoded line by line (line_protocol.py). JSON is one
    # document, and Telegraf's serializer (Go's encoding/json) replaces invalid UTF-8: it is parsed whole, held to
    # the one depth rule of JSON bodies (a Telegraf batch nests 4 levels: its fields are never arrays or objects).
    document = json_document(body)
    return json_metrics(document, received_ns, frozenset(config.integer_fields))


def json_metrics(document: Any, received_ns: int, integer_fields: frozenset[str]) -> ValidatedLines:
    """Telegraf's JSON serializer output, batch (`{"metrics": [...]}`) or single metric, as lines."""
    metrics = document.get("metrics", [document]) if isinstance(document, dict) else None
    if not isinstance(metrics, list):
        raise BadRequest("body: expected {\"metrics\": [...]} or one metric object")
    result = ValidatedLines()
    for number, metric in enumerate(metrics, start=1):
        line = ""
        try:
            line = _json_line(metric, received_ns, integer_fields)
            parse_line(line)
        except MetricError as exc:
            result.reject(number, str(exc))
            continue
        except LineFormatError as exc:
            result.reject(number, describe(exc, line))
            continue
        result.accept(line)
    return result


def _json_line(metric: Any, received_ns: int, integer_fields: frozenset[str]) -> str:
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str) or not metric["name"]:
        raise MetricError("a metric needs a non-empty string `name`")
    name = metric["name"]
    tags = {str(k): str(v) for k, v in _mapping(metric, "tags").items()}
    fields = {str(k): _field_value(name, str(k), v, integer_fields)
              for k, v in _mapping(metric, "fields").items() if v is not None}
    if not fields:
        raise MetricError(f"metric {name!r} has no fields")
    if any("\n" in text or text.endswith("\\") for text in _texts(name, tags, fields)):
        raise MetricError(f"metric {name!r}: names and tags cannot contain newlines or end with a backslash")
    if name.startswith("#"):
        raise MetricError(f"metric {name!r}: a name cannot start with '#' (line protocol reads a comment)")
    return encode_point(name, tags, fields, _timestamp_ns(metric.get("timestamp"), received_ns))


def _mapping(metric: dict, key: str) -> dict:
    value = metric.get(key) or {}
    if not isinstance(value, dict):
        raise MetricError(f"`{key}` must be an object")
    return value


def _texts(name: str, tags: dict[str, str], fields: dict[str, Any]) -> Iterable[str]:
    yield name
    yield from tags
    yield from tags.values()
    yield from fields


def _field_value(measurement: str, key: str, value: Any, integer_fields: frozenset[str]) -> bool | int | float | str:
    if isinstance(value, bool | str):
        return value
    if not isinstance(value, int | float):
        raise MetricError(f"field {key!r}: {type(value).__name__} values are not supported")
    if key in integer_fields or f"{measurement}.{key}" in integer_fields:
        if isinstance(value, float) and not value.is_integer():
            raise MetricError(f"field {key!r} is declared integer but holds {value}")
        return int(value)
    try:
        return float(value)
    except OverflowError as exc:
        raise MetricError(f"field {key!r}: number out of range") from exc


def _timestamp_ns(value: Any, received_ns: int) -> int:
    """Telegraf writes `json_timestamp_units` (1s by default, or ms/us/ns) without saying which: the
    magnitude tells (seconds stay below 1e11 until the year 5138). RFC 3339 strings are accepted too."""
    if value is None:
        return received_ns
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise MetricError(f"timestamp {value!r} is neither a number nor RFC 3339") from exc
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1_000_000) * 1_000
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricError("timestamp must be a number or an RFC 3339 string")
    magnitude = abs(value)
    scale = 1_000_000_000 if magnitude < 1e11 else 1_000_000 if magnitude < 1e14 else 1_000 if magnitude < 1e17 else 1
    return int(value) * scale if isinstance(value, int) else round(value * scale)


def to_envelopes(source: str, batch: ValidatedLines, lines_per_event: int) -> list[Envelope]:
    """The good lines `lines_per_event` to an event; they go on the stream as these bytes. The payload is built
    unvalidated (its types are these): validating `str | bytes` decodes the bytes as text, some 200 CPU
    instructions a line (callgrind), 5 % of validating the lines."""
    envelopes = []
    for lines, count in batch.entries(lines_per_event):
        payload = MetricsPayload.model_construct(lines=lines, count=count)
        envelopes.append(Envelope(type=METRICS_RECEIVED, source=source, payload=payload.model_dump()))
    return envelopes


@router.post("/webhooks/telegraf", status_code=status.HTTP_202_ACCEPTED, operation_id="webhook_telegraf",
             openapi_extra=documented_body("text/plain"))
async def receive_telegraf(request: Request, source: TelegrafSource) -> MetricsAccepted:
    # The settings and bus straight from app.state, as current_principal does: as dependencies each cost a
    # dependency solve on every request of the busiest route (the two ~25 µs of CPU a request).
    state = request.app.state
    settings: ApiSettings = state.settings
    body = await read_body(request, settings.max_body_bytes)
    batch = parse_telegraf(body, time.time_ns(), telegraf_config(source))
    envelopes = await publish_request(state.bus, METRICS_INGESTED,
                                      to_envelopes(source.name, batch, settings.metrics_lines_per_event),
                                      len(body), settings)
    METRIC_LINES_ACCEPTED.labels(source.name).inc(batch.count)
    METRIC_LINES_REJECTED.labels(source.name).inc(batch.rejected)
    return MetricsAccepted(
        accepted=batch.count, rejected=batch.rejected, event_ids=[e.id for e in envelopes],
        errors=[LineErrorRead(line=e.line, error=e.error) for e in batch.errors],
    )
