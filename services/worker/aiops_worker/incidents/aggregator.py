"""The issues aggregator: groups related events into incidents.

Signals come from error-ish log lines (`signal_from_log`) and from stored alerts, anomalies included
(`signal_from_alert`). Both follow the same rule; each source has its own group keys and its own
`window`, so a log burst and an alert storm never share an incident.

Group keys:
- logs: `log:<prototype, else template>:<host, else service, else ->`: one failure pattern on one machine.
- alerts: `alert:host:<host>`, else `alert:service:<service>`, else `alert:<source>:<fingerprint>`.
  Alerts are keyed on *where* they fire, not on what: whatever fires on one host within the window
  (the CPU anomaly, the latency anomaly, Alertmanager's HostDown) is one thing to look at. An alert that
  names neither host nor service has nothing to correlate on, so it gets an incident of its own; for an
  anomaly that is its series (the fingerprint is the series'). Resolved alerts give no signal: a
  resolution opens nothing, and the incident ends by the rule below.

The rule, per group key:
1. An event joins the key's latest incident while it is open or acknowledged and the event is no more
   than `window` (logs: INCIDENT_WINDOW_S, 5 s; alerts: INCIDENT_ALERT_WINDOW_S, 10 min) after that
   incident's last event. Acknowledging an incident does not change this: it keeps collecting events.
2. After `window` of quiet the incident is resolved, at its last event + `window`: by the periodic
   sweep (no new event for `window` of wall-clock time), or by the next event when a backlog or a
   replayed file delivers events faster than real time. Both give the same result.
3. An event for a resolved incident reopens it (same incident, back to `open`, `reopened` on the
   timeline) when it comes within `reopen` (INCIDENT_REOPEN_S, 1 h) of the resolution; later, it opens
   a new incident.
4. An event that happened at or before a resolved incident's resolution is late news of the episode
   that was resolved (a backlog, a slow source): it is counted in that incident, which stays resolved.

Resolved by the sweep, by the next event or by an operator (POST /incidents/{id}/resolve, which sets
`resolved_at` to the moment of the click): rules 3 and 4 read only `status` and `resolved_at`, so a
manual resolution is treated like any other. An event after it reopens the incident within `reopen`
(the fix did not hold), an event from before it does not undo it.
"""

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from aiops_contracts.db import Incident
from aiops_contracts.events import (
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    AlertStatus,
    AlertStoredPayload,
    IncidentStatus,
    LogEvent,
    Severity,
    TimelineKind,
)
from aiops_worker.logs.rules import RANK

MAX_LISTED = 50  # hosts and services listed per incident
MAX_TEMPLATES = 20  # template ids listed per incident
LOG_KEY_PREFIX = "log:"
ALERT_KEY_PREFIX = "alert:"


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


@dataclass(frozen=True)
class Policy:
    window: timedelta
    reopen: timedelta
    sample_limit: int


class Action(Enum):
    JOIN = "join"
    REOPEN = "reopen"
    OPEN = "open"


def signal_from_log(event: LogEvent, envelope_id: str) -> Signal:
    group = event.prototype_id or event.template_id
    where = event.host or event.service or "-"
    return Signal(
        event_id=event.event_id, envelope_id=envelope_id, key=f"{LOG_KEY_PREFIX}{group}:{where}"[:255],
        title=(event.template or event.message)[:500], severity=event.severity, at=event.occurred_at,
        host=event.host, service=event.service, message=event.message, template_id=event.template_id,
        facts={"kind": "log", "category": event.category, "rule": event.rule, "prototype_id": event.prototype_id},
    )


def signal_from_alert(alert: AlertStoredPayload, envelope_id: str, at: datetime) -> Signal | None:
    """The signal of a stored alert (see the module docstring for its key); None for a resolved one."""
    if alert.status == AlertStatus.resolved:
        return None
    if alert.host:
        where = f"host:{alert.host}"
    elif alert.service:
        where = f"service:{alert.service}"
    else:
        where = f"{alert.source}:{alert.fingerprint}"
    return Signal(
        event_id=envelope_id, envelope_id=envelope_id, key=f"{ALERT_KEY_PREFIX}{where}"[:255], title=alert.title,
        severity=alert.severity, at=at, host=alert.host, service=alert.service, message=alert.title,
        facts={"kind": "alert", "source": alert.source}, ref=alert.alert_id,
    )


def decide(incident: Incident | None, at: datetime, policy: Policy) -> Action:
    if incident is None:
        return Action.OPEN
    if incident.status != IncidentStatus.resolved:
        if at <= incident.last_seen_at + policy.window:
            return Action.JOIN
        resolved_at = incident.last_seen_at + policy.window
    else:
        resolved_at = incident.resolved_at
        if resolved_at is None:
            return Action.OPEN
        if at <= resolved_at:
            return Action.JOIN  # rule 4: counted in the resolved incident, not a reopening
    return Action.REOPEN if at - resolved_at <= policy.reopen else Action.OPEN


def change_id(*parts: str) -> str:
    """Deterministic envelope id of an incident change, so a redelivery announces it under the same id."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


class Aggregation:
    """Applies one batch of signals (sorted by time) to the latest incident of each key."""

    def __init__(self, policy: Policy, latest: dict[str, Incident]) -> None:
        self.policy = policy
        self.latest = latest
        self.created: list[Incident] = []
        self.reopened: set[uuid.UUID] = set()
        self.changed: dict[uuid.UUID, tuple[Incident, str]] = {}  # id -> (incident, last envelope changing it)
        self.timeline: dict[tuple[uuid.UUID, TimelineKind, str], dict[str, Any]] = {}

    def add(self, signal: Signal) -> Incident:
        """Apply one signal; returns the incident it joined."""
        incident = self.latest.get(signal.key)
        action = decide(incident, signal.at, self.policy)
        if action is Action.REOPEN:
            assert incident is not None
            self._reopen(incident, signal)
        elif action is Action.OPEN:
            if incident is not None and incident.status != IncidentStatus.resolved:
                self._resolve(incident, signal.envelope_id)
            incident = self._open(signal)
        assert incident is not None
        self._join(incident, signal)
        return incident

    def _open(self, signal: Signal) -> Incident:
        incident = Incident(
            id=uuid.uuid4(), group_key=signal.key, title=signal.title, summary="", severity=signal.severity.value,
            status=IncidentStatus.open, event_count=0, hosts=[], services=[], first_seen_at=signal.at, last_seen_at=signal.at,
            details={**signal.facts, "samples": [], "template_ids": [], "reopen_count": 0},
        )
        self.created.append(incident)
        self.latest[signal.key] = incident
        self._mark(incident, signal.envelope_id)
        self._note(incident, TimelineKind.opened, signal, signal.at)
        return incident

    def _reopen(self, incident: Incident, signal: Signal) -> None:
        if incident.status != IncidentStatus.resolved:
            self._resolve(incident, signal.envelope_id)
        incident.status = IncidentStatus.open
        incident.resolved_at = None
        incident.details = {**incident.details, "reopen_count": incident.details.get("reopen_count", 0) + 1}
        self.reopened.add(incident.id)
        self._mark(incident, signal.envelope_id)
        self._note(incident, TimelineKind.reopened, signal, signal.at)

    def _resolve(self, incident: Incident, envelope_id: str) -> None:
        incident.status = IncidentStatus.resolved
        incident.resolved_at = incident.last_seen_at + self.policy.window
        self._mark(incident, envelope_id)
        key = (incident.id, TimelineKind.resolved, envelope_id)
        self.timeline[key] = {"incident_id": incident.id, "event_id": envelope_id, "at": incident.resolved_at,
                              "kind": TimelineKind.resolved, "count": 0, "host": None, "template_id": None,
                              "message": ""}

    def _join(self, incident: Incident, signal: Signal) -> None:
        incident.event_count += 1
        incident.first_seen_at = min(incident.first_seen_at, signal.at)
        incident.last_seen_at = max(incident.last_seen_at, signal.at)
        if RANK[signal.severity] > RANK[Severity(incident.severity)]:
            incident.severity = signal.severity.value
        _add_listed(incident, "hosts", signal.host)
        _add_listed(incident, "services", signal.service)
        self._add_details(incident, signal)
        self._mark(incident, signal.envelope_id)
        row = self._note(incident, TimelineKind.events, signal, signal.at)
        row["count"] += 1

    def _add_details(self, incident: Incident, signal: Signal) -> None:
        details = incident.details
        samples, templates = details.get("samples", []), details.get("template_ids", [])
        add_sample = len(samples) < self.policy.sample_limit
        add_template = signal.template_id and signal.template_id not in templates and len(templates) < MAX_TEMPLATES
        if add_sample or add_template:
            sample = {"at": signal.at.isoformat(), "host": signal.host, "message": signal.message[:2000],
                      "template_id": signal.template_id}
            incident.details = {**details, "samples": samples + [sample] if add_sample else samples,
                                "template_ids": templates + [signal.template_id] if add_template else templates}

    def _mark(self, incident: Incident, envelope_id: str) -> None:
        self.changed[incident.id] = (incident, envelope_id)

    def change_of(self, incident: Incident) -> tuple[str, bool]:
        """What to announce for a changed incident, from its final state: (event type, reopened)."""
        if incident.status == IncidentStatus.resolved:
            return INCIDENT_RESOLVED, False
        if incident in self.created or incident.id in self.reopened:
            return INCIDENT_OPENED, incident.id in self.reopened
        return INCIDENT_UPDATED, False

    def _note(self, incident: Incident, kind: TimelineKind, signal: Signal, at: datetime) -> dict[str, Any]:
        key = (incident.id, kind, signal.envelope_id)
        row = self.timeline.get(key)
        if row is None:
            row = self.timeline[key] = {"incident_id": incident.id, "event_id": signal.envelope_id, "at": at,
                                        "kind": kind, "count": 0, "host": signal.host,
                                        "template_id": signal.template_id, "message": signal.message[:2000]}
        row["at"] = max(row["at"], at)
        return row


def _add_listed(incident: Incident, attribute: str, value: str | None) -> None:
    listed = getattr(incident, attribute)
    if value and value not in listed and len(listed) < MAX_LISTED:
        setattr(incident, attribute, [*listed, value])
