"""Signals: what the incident aggregator (incidents/aggregator.py) groups into incidents. They come from error-ish
log lines (`signal_from_log`) and from stored alerts, anomalies included (`signal_from_alert`). Both follow the
same rule; each source has its own group keys and its own `window`, so a log burst and an alert storm never share
an incident. A signal's kind says what it is (a SignalKind: `log`, or the alert's `signal`; an alert of an older
producer, which does not say, is read from its source as migration 0021 read stored rows: `source_signal`); an
incident's evidence holds one entry per group key, kind and source (EntryKey).

Group keys:
- logs: `log:<prototype, else template>:<host, else service, else ->`: one failure pattern on one machine.
- alerts: `alert:host:<host>`, else `alert:service:<service>`, else `alert:<source>:<fingerprint>`.
  Alerts are keyed on *where* they fire, not on what: whatever fires on one host within the window
  (the CPU anomaly, the latency anomaly, Alertmanager's HostDown) is one thing to look at. An alert that
  names neither host nor service has nothing to correlate on, so it gets an incident of its own; for an
  anomaly that is its series (the fingerprint is the series'). Resolved alerts give no signal: a
  resolution opens nothing, and the incident ends by the aggregator's rule.
Host labels are normalised (`db-1:9187`, `db-1.example.org` -> `db-1`) before keys are built. An alert's key is
aiops_contracts.topology.alert_key: the API moves the alerts of a key an operator splits out of an incident.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property, lru_cache
from typing import Any

from aiops_contracts.events import AlertStatus, AlertStoredPayload, LogEvent, Severity, SignalKind, source_signal
from aiops_contracts.topology import ALERT_KEY_PREFIX as ALERT_KEY_PREFIX
from aiops_contracts.topology import alert_key, host_name, service_name

MAX_NAME = 255  # characters of a host or service name kept
LOG_KEY_PREFIX = "log:"


EntryKey = tuple[str, str, str]  # an evidence entry: (group key, signal kind, source)


def entry_key(entry: dict[str, Any]) -> EntryKey:
    """The key of an evidence row (a dict of its columns)."""
    return entry["group_key"], entry["kind"], entry["source"]


@dataclass(frozen=True)
class Signal:
    event_id: str
    envelope_id: str
    key: str
    title: str
    severity: Severity
    at: datetime
    host: str | None
    service: str | None
    message: str
    template_id: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # category, rule, prototype: kept in details
    ref: str | None = None  # the stored row the signal stands for (an alert's id), linked to its incident
    score: float | None = None

    @property
    def kind(self) -> str:
        """What the signal is (a SignalKind); an alert from an older producer, which did not say, read from its
        source (as migration 0021 read stored rows)."""
        if signal := self.facts.get("signal"):
            return signal
        return source_signal(self.facts["source"]).value if self.facts.get("source") else self.facts["kind"]

    @property
    def source(self) -> str:
        return self.facts.get("source") or ""

    @cached_property
    def entry(self) -> EntryKey:
        """The key of its evidence entry in its incident."""
        return self.key, self.kind, self.source


@lru_cache(maxsize=4096)
def _host_name(label: str | None) -> str | None:
    """host_name cut to the columns holding it, remembered: a batch names the same few hosts again and again."""
    return _cut(host_name(label))


def _service_name(label: str | None) -> str | None:
    return _cut(service_name(label))


def _cut(name: str | None) -> str | None:
    """A host or service name as the evidence, timeline and topology columns hold it (String(255)), cut here so that
    the incident's lists name it the same (learning.edge cuts the same way)."""
    return name[:MAX_NAME] if name else name


@lru_cache(maxsize=64)
def _zone(offset: timedelta) -> timezone:
    return timezone(offset)


def _shared_zone(at: datetime) -> datetime:
    """The same time, with one tzinfo object per UTC offset: pydantic gives each datetime it parses a tzinfo
    of its own, and comparing two datetimes of different tzinfo objects asks both for their offset. A time
    without an offset (an Alertmanager `startsAt` may have none) is UTC, as for log lines (logs/timestamps.py)."""
    offset = at.utcoffset()
    if offset is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(_zone(offset))  # (the same offset: the same fields)


def signal_from_log(event: LogEvent, envelope_id: str) -> Signal:
    group = event.prototype_id or event.template_id
    host, service = _host_name(event.host), _service_name(event.service)
    where = host or service or "-"
    return Signal(
        event_id=event.event_id, envelope_id=envelope_id, key=f"{LOG_KEY_PREFIX}{group}:{where}"[:255],
        title=(event.template or event.message)[:500], severity=event.severity, at=_shared_zone(event.occurred_at),
        host=host, service=service, message=event.message, template_id=event.template_id,
        facts={"kind": SignalKind.log.value, "category": event.category, "rule": event.rule, "prototype_id": event.prototype_id},
    )


def signal_from_alert(alert: AlertStoredPayload, envelope_id: str, at: datetime) -> Signal | None:
    """The signal of a stored alert (see the module docstring for its key); None for a resolved one."""
    if alert.status == AlertStatus.resolved:
        return None
    host, service = _host_name(alert.host), _service_name(alert.service)
    return Signal(
        event_id=envelope_id, envelope_id=envelope_id, key=alert_key(alert.source, alert.fingerprint, alert.host, alert.service),
        title=alert.title,
        severity=alert.severity, at=_shared_zone(at), host=host, service=service, message=alert.title,
        facts={"kind": "alert", "source": alert.source, "signal": alert.signal and alert.signal.value}, ref=alert.alert_id, score=alert.score,
    )
