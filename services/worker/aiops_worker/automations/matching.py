"""What a trigger sees of an event (incident change, anomaly or predictive alert) and whether a rule matches it.
Pure functions; the task builds the facts from the stream entry and the stored alert."""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from aiops_contracts.automations import Trigger, TriggerKind
from aiops_contracts.events import INCIDENT_OPENED, INCIDENT_UPDATED, IncidentChangedPayload, IncidentStatus
from aiops_worker.anomalies.alerts import ANOMALY_SOURCE
from aiops_worker.forecasts.capacity import FORECAST_SOURCE


@dataclass(frozen=True)
class TriggerEvent:
    key: str  # the triggering envelope's id: at most one run per rule and key
    kind: TriggerKind
    severity: str
    title: str
    host: str | None = None
    service: str | None = None
    incident_id: str | None = None
    alert_id: str | None = None  # the triggering alert (anomaly, prediction): the symptom a run is judged on
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # when the symptom was first seen (an incident), or the alert's moment

    @property
    def target(self) -> str:
        return self.host or self.service or "fleet"

    def facts(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> "TriggerEvent":
        """The event back from a run's stored facts."""
        at = facts.get("at")
        return cls(**{**facts, "kind": TriggerKind(facts["kind"]), "at": datetime.fromisoformat(at) if at else None})


def incident_event(envelope_id: str, event_type: str, incident: IncidentChangedPayload) -> TriggerEvent | None:
    kinds = {INCIDENT_OPENED: TriggerKind.incident_opened, INCIDENT_UPDATED: TriggerKind.incident_updated}
    if event_type not in kinds or incident.status == IncidentStatus.resolved:
        return None
    return TriggerEvent(key=envelope_id, kind=kinds[event_type], severity=incident.severity.value,
                        title=incident.title, host=incident.hosts[0] if incident.hosts else None,
                        service=incident.services[0] if incident.services else None,
                        incident_id=incident.incident_id, at=incident.first_seen_at)


def alert_kind(source: str) -> TriggerKind | None:
    return {ANOMALY_SOURCE: TriggerKind.anomaly, FORECAST_SOURCE: TriggerKind.prediction}.get(source)


def matches(trigger: Trigger, event: TriggerEvent) -> bool:
    if event.kind not in trigger.events or (trigger.severity and event.severity not in trigger.severity):
        return False
    if trigger.hosts and not _any_glob(trigger.hosts, event.host):
        return False
    if trigger.services and not _any_glob(trigger.services, event.service):
        return False
    if any(event.labels.get(k) != v for k, v in trigger.labels.items()):
        return False
    if trigger.title_contains and trigger.title_contains.lower() not in event.title.lower():
        return False
    if trigger.measurement and event.labels.get("measurement") != trigger.measurement:
        return False
    if trigger.field and event.labels.get("field") != trigger.field:
        return False
    return _value_matches(trigger, event) and _exhaustion_matches(trigger, event)


def _any_glob(patterns: list[str], value: str | None) -> bool:
    return value is not None and any(fnmatchcase(value, p) for p in patterns)


def _value_matches(trigger: Trigger, event: TriggerEvent) -> bool:
    if trigger.value_above is None:
        return True
    value = event.details.get("value", event.details.get("last_value"))
    return isinstance(value, int | float) and value > trigger.value_above


def _exhaustion_matches(trigger: Trigger, event: TriggerEvent) -> bool:
    if trigger.exhausts_within_h is None:
        return True
    exhausts_at = event.details.get("exhausts_at")
    if not exhausts_at or event.at is None:
        return False
    hours_left = (datetime.fromisoformat(exhausts_at) - event.at).total_seconds() / 3600
    return hours_left <= trigger.exhausts_within_h
