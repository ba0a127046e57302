"""Announcing incident changes, the same way whoever made them (the worker's aggregator, an operator through
the API): an `incident.*` envelope carrying the incident's state after the change, appended to
`aiops:incidents:changed` and published on the live channel."""

from collections.abc import Sequence

from aiops_contracts.bus import Bus
from aiops_contracts.db import Incident
from aiops_contracts.envelope import Envelope, new_event_id
from aiops_contracts.events import IncidentChangedPayload, Severity
from aiops_contracts.streams import INCIDENTS_CHANGED


def incident_changed(incident: Incident, event_type: str, *, source: str, envelope_id: str | None = None,
                     reopened: bool = False) -> Envelope:
    payload = IncidentChangedPayload(
        incident_id=str(incident.id), group_key=incident.group_key, title=incident.title,
        severity=Severity(incident.severity), status=incident.status, event_count=incident.event_count,
        hosts=incident.hosts, services=incident.services, first_seen_at=incident.first_seen_at,
        last_seen_at=incident.last_seen_at, reopened=reopened)
    return Envelope(id=envelope_id or new_event_id(), type=event_type, source=source,
                    payload=payload.model_dump(mode="json"))


async def announce_incident_changes(bus: Bus, envelopes: Sequence[Envelope]) -> None:
    await bus.publish_and_broadcast(INCIDENTS_CHANGED, envelopes)
