"""Payload models per event type. The envelope's `type` names which model its payload follows."""

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, GetPydanticSchema, model_validator
from pydantic_core import core_schema

from aiops_contracts.instrumentation import LABELS_DROPPED
from aiops_contracts.text import without_nul_in

ALERT_RECEIVED = "alert.received"
ALERT_STORED = "alert.stored"
METRICS_RECEIVED = "metrics.received"
LOGS_RECEIVED = "logs.received"
LOG_TEMPLATED = "log.templated"
INCIDENT_OPENED = "incident.opened"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_RESOLVED = "incident.resolved"
INCIDENT_ENRICHED = "incident.enriched"  # live channel only: title and summary changed
ANOMALY_SOURCE = "anomaly-detector"  # the alert source of the worker's anomaly detector
FORECAST_SOURCE = "capacity-forecast"  # the alert source of the worker's capacity forecasts


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class AlertStatus(StrEnum):
    firing = "firing"
    acknowledged = "acknowledged"
    resolved = "resolved"


class IncidentStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class TimelineKind(StrEnum):
    """A row of an incident's timeline: opened, events (one row per handled batch, with its count),
    reopened, resolved (by the aggregator or an operator), acknowledged (by an operator), automation (a run's
    decision or result)."""

    opened = "opened"
    events = "events"
    reopened = "reopened"
    resolved = "resolved"
    acknowledged = "acknowledged"
    automation = "automation"  # an automation run's decision or result


class SignalKind(StrEnum):
    """What a signal is, whichever source sent it: an application error (Sentry), an alert (Alertmanager,
    Redfish, SNMP, a poller, a failed build), a log burst, an anomaly (a metric's or a build's) or a capacity
    forecast. An incident's evidence lists its signals by this kind."""

    error = "error"
    alert = "alert"
    log = "log"
    anomaly = "anomaly"
    forecast = "forecast"


def source_signal(source: str) -> SignalKind:
    """The kind of an alert whose producer did not say (`signal` None: an older producer), read from its
    source. Migration 0021 reads stored rows the same way in SQL (migrations do not import this): keep the
    two alike. That migration also reads a Sentry source's rows as errors (from the sources table, which an
    alert does not name): Sentry's receivers say `error` since `signal` exists, so only a Sentry alert in
    flight across the upgrade gets an `alert` row beside its `error` row."""
    return {ANOMALY_SOURCE: SignalKind.anomaly, FORECAST_SOURCE: SignalKind.forecast}.get(source, SignalKind.alert)


FINGERPRINT_MAX_CHARS = 128  # the alerts table's column; receivers shorten longer source keys to fit
TITLE_MAX_CHARS = 500  # an alert's title; a receiver that composes one cuts the whole of it
URL_MAX_CHARS = 2_000  # the alerts table's url column; other stored URLs (Alertmanager's externalURL) alike
# Labels and annotations are cut, never refused, so that producer and consumer agree and an event with one
# overlong label keeps the rest. Request-level labels travel once per envelope (LogsPayload.labels).
LABEL_KEY_MAX_CHARS = 128
# Labels (or annotations) of one event past this many are dropped, the first kept (the KNOWN_ANNOTATIONS before
# all), and counted in aiops_event_labels_dropped_total: a 5 MB body could carry 200,000 labels on one alert,
# stored in JSONB and copied into its incident's notifications.
LABELS_MAX_COUNT = 64
# The annotations an alert is read by (Alertmanager's title and description, the runbook link)
KNOWN_ANNOTATIONS = ("summary", "description", "message", "runbook_url")
LABEL_VALUE_MAX_CHARS = 1_024  # also names copied from a request into each of its alerts (receiver, group key)
ANNOTATION_VALUE_MAX_CHARS = 4_096  # alert annotations; the description itself keeps up to 20,000
LOG_LINE_MAX_CHARS = 65_536  # one LogRecord's message; a longer line travels as several (log_line_pieces)


def log_line_pieces(line: str) -> list[str]:
    """`line` as consecutive pieces of at most LOG_LINE_MAX_CHARS characters (one for a short or empty line): the
    messages of its records, in order, so accepted text is never cut off (the logs webhook, the log producers)."""
    if len(line) <= LOG_LINE_MAX_CHARS:
        return [line]
    return [line[start:start + LOG_LINE_MAX_CHARS] for start in range(0, len(line), LOG_LINE_MAX_CHARS)]


def _cut(field: str, value_max: int, known: tuple[str, ...] = ()) -> GetPydanticSchema:
    """A dict[str, str] whose overlong keys and values are cut, and of which only LABELS_MAX_COUNT entries are
    kept: the `known` keys present, then the first others (the rest are dropped and counted per `field`). The
    bounds are checked in pydantic's core, so Python runs only for a dict that needs cutting (every log record has
    a labels field)."""
    dropped = LABELS_DROPPED.labels(field)

    def cut(labels: dict[str, str]) -> dict[str, str]:
        items: Iterable[tuple[str, str]] = labels.items()
        if len(labels) > LABELS_MAX_COUNT:
            dropped.inc(len(labels) - LABELS_MAX_COUNT)
            items = itertools.chain(((k, labels[k]) for k in known if k in labels),
                                    ((k, v) for k, v in labels.items() if k not in known))
        return {k[:LABEL_KEY_MAX_CHARS]: v[:value_max] for k, v in itertools.islice(items, LABELS_MAX_COUNT)}

    strings = core_schema.dict_schema(core_schema.str_schema(), core_schema.str_schema())
    fits = core_schema.dict_schema(core_schema.str_schema(max_length=LABEL_KEY_MAX_CHARS),
                                   core_schema.str_schema(max_length=value_max), max_length=LABELS_MAX_COUNT)
    fits_or_cut = core_schema.union_schema([fits, core_schema.no_info_after_validator_function(cut, strings)],
                                           mode="left_to_right")
    # The first step gives the errors of a dict[str, str]; the second never fails on its output. Serialised
    # and documented as the dict[str, str] it was (values are cut, not refused).
    return GetPydanticSchema(lambda source, handler: core_schema.chain_schema([handler(source), fits_or_cut]),
                             lambda _, handler: handler(strings))


Labels = Annotated[dict[str, str], _cut("labels", LABEL_VALUE_MAX_CHARS)]
Annotations = Annotated[dict[str, str], _cut("annotations", ANNOTATION_VALUE_MAX_CHARS, KNOWN_ANNOTATIONS)]

# An event's own time (a log record's or line's stamp, an alert's start or end) further than this from now, either
# way, is a clock never set or a placeholder (Go's zero time 0001-01-01, 1970-01-01, 9999-12-31): it reads as absent,
# so the event takes the time it was received, as one without a stamp does (and the incident windows around it stay
# within datetime's range: year 1 less a window raised OverflowError, and the whole batch was dead-lettered).
EVENT_TIME_MAX_YEARS = 50
EVENT_TIME_MAX_DISTANCE = timedelta(days=365 * EVENT_TIME_MAX_YEARS)


def _believed() -> GetPydanticSchema:
    """A datetime with its offset, or None: a time without one is UTC (as a log line's is, logs/timestamps.py; mixed
    with aware times, it could not be compared to them), and one further than EVENT_TIME_MAX_DISTANCE from the
    process's start is None. Offset and bounds are checked in pydantic's core, so Python runs only for a time without
    an offset or past the bounds."""
    started = datetime.now(UTC)
    earliest, latest = started - EVENT_TIME_MAX_DISTANCE, started + EVENT_TIME_MAX_DISTANCE

    def utc_if_believed(at: datetime) -> datetime | None:
        at = at if at.utcoffset() is not None else at.replace(tzinfo=UTC)
        return at if earliest <= at <= latest else None

    within = core_schema.nullable_schema(core_schema.datetime_schema(ge=earliest, le=latest, tz_constraint="aware"))
    within_or_fixed = core_schema.union_schema([within, core_schema.no_info_plain_validator_function(utc_if_believed)],
                                               mode="left_to_right")
    # The first step gives the errors of a datetime | None; the second never fails on its output. Documented as
    # the datetime | None it is.
    return GetPydanticSchema(lambda source, handler: core_schema.chain_schema([handler(source), within_or_fixed]),
                             lambda _, handler: handler(core_schema.nullable_schema(core_schema.datetime_schema())))


EventTime = Annotated[datetime | None, _believed()]

# The fields of an alert that hold text, where a NUL may come (AlertPayload._without_nul).
_ALERT_TEXTS = ("fingerprint", "title", "description", "host", "service", "labels", "annotations", "url", "details")


class AlertPayload(BaseModel):
    """`alert.received`: one alert as a source reported it, already normalised by its webhook."""

    fingerprint: str = Field(min_length=1, max_length=FINGERPRINT_MAX_CHARS)  # dedup key within a source
    title: str = Field(min_length=1, max_length=TITLE_MAX_CHARS)
    description: str = Field(default="", max_length=20_000)
    severity: Severity = Severity.medium
    status: AlertStatus = AlertStatus.firing
    host: str | None = Field(default=None, max_length=255)
    service: str | None = Field(default=None, max_length=255)
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    occurred_at: EventTime = None
    url: str | None = Field(default=None, max_length=URL_MAX_CHARS)
    details: dict[str, Any] = Field(default_factory=dict)  # source-specific facts worth keeping
    signal: SignalKind | None = None  # what the alert is (None from older producers: its source stands for it)

    @model_validator(mode="after")
    def _without_nul(self) -> Self:
        """NUL replaced in every text it holds: PostgreSQL refuses it in text and JSONB, so the alert was accepted,
        retried by the alert store, then dead-lettered. Here every alert passes: receivers, producers, the store."""
        fields = self.__dict__
        if without_nul_in(fields) is not fields:
            for name in _ALERT_TEXTS:
                value = without_nul_in(fields[name])
                if value is not fields[name]:
                    setattr(self, name, value)
        return self


class AlertStoredPayload(BaseModel):
    """`alert.stored`: an alert row after the worker wrote it; what live clients and the aggregator see."""

    alert_id: str
    fingerprint: str
    title: str
    severity: Severity
    status: AlertStatus
    source: str
    host: str | None = None
    service: str | None = None
    count: int = 1
    incident_id: str | None = None
    occurred_at: EventTime = None  # when the announced event happened (None from older producers)
    score: float | None = None  # the announced event's score (an anomaly's peak score), for incident evidence
    signal: SignalKind | None = None  # the alert's signal kind (AlertPayload.signal)


class MetricsPayload(BaseModel):
    """`metrics.received`: a batch of metrics as InfluxDB line protocol, already validated. The lines are text, or
    the bytes read from the stream for a consumer that takes them undecoded (the metrics writer)."""

    lines: str | bytes
    count: int


class LogRecord(BaseModel):
    message: str = Field(max_length=LOG_LINE_MAX_CHARS)
    host: str | None = Field(default=None, max_length=255)
    timestamp: EventTime = None
    labels: Labels = Field(default_factory=dict)


class LogsPayload(BaseModel):
    """`logs.received`: raw log lines from one source. `labels` hold for every record (a request's `host`,
    `service` and `label=` parameters): stored once per envelope, not once per line. A record's own labels
    win: `labelled()` applies them to every record (the log task reads them beside each record's instead, the
    same values without a copy per line). Publishers dump with `exclude_defaults` (no empty fields per line)."""

    records: list[LogRecord]
    labels: Labels = Field(default_factory=dict)

    def labelled(self) -> "LogsPayload":
        """The records with the envelope's labels applied, as older producers sent them."""
        if not self.labels:
            return self
        host = self.labels.get("host")
        records = [r.model_copy(update={"labels": {**self.labels, **r.labels}, "host": r.host or host})
                   for r in self.records]
        return LogsPayload(records=records)


class LogEvent(BaseModel):
    """One error-ish log line after header parsing, templating and the failure rules."""

    event_id: str = Field(max_length=64)  # unique per line: `<logs.received envelope id>:<line index>`
    template_id: str
    prototype_id: str | None = None  # None while the template waits for its embedding
    template: str
    message: str
    host: str | None = None
    service: str | None = None  # the component (syslog app name, logger)
    severity: Severity
    category: str | None = None  # from the matching failure rule
    rule: str | None = None
    occurred_at: datetime


class LogEventsPayload(BaseModel):
    """`log.templated`: the error-ish lines of one `logs.received` envelope (it keeps that envelope's id)."""

    events: list[LogEvent]


class IncidentChangedPayload(BaseModel):
    """`incident.opened` / `incident.updated` / `incident.resolved`: an incident's state after the change."""

    incident_id: str
    group_key: str
    title: str
    severity: Severity
    status: IncidentStatus
    event_count: int
    hosts: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    first_seen_at: datetime
    last_seen_at: datetime
    reopened: bool = False
