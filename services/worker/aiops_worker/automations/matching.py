"""What a trigger sees of a stream event (incident change, anomaly or predictive alert). The event and whether a
rule matches it are defined in aiops_contracts.automations (the API's chat proposes automations with the same
test) and offered here with the worker's own part."""

from aiops_contracts.automations import TriggerEvent, TriggerKind, matches
from aiops_contracts.events import (
    ANOMALY_SOURCE,
    FORECAST_SOURCE,
    INCIDENT_OPENED,
    INCIDENT_UPDATED,
    IncidentChangedPayload,
    IncidentStatus,
)

__all__ = ["TriggerEvent", "alert_kind", "incident_event", "matches"]


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
