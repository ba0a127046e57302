"""An incident's evidence: the anomalies on its hosts, whichever label of a host they came under."""

import uuid
from datetime import UTC, datetime, timedelta

from aiops_contracts.db import Alert, Incident
from aiops_contracts.events import ANOMALY_SOURCE, IncidentStatus
from aiops_worker.enrichment.evidence import gather

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


async def test_anomalies_on_the_incidents_hosts_are_found_by_host_name(clean_db, sessions) -> None:
    incident_id = uuid.uuid4()
    labels = ["WEB-3.prod.example.com:9100", "web-3", "web-30"]
    async with sessions.begin() as session:
        session.add(Incident(id=incident_id, group_key="alert:host:web-3", title="DB errors", summary="",
                             severity="high", status=IncidentStatus.open, event_count=1, hosts=["web-3"], services=[],
                             details={}, first_seen_at=T0, last_seen_at=T0 + timedelta(minutes=5)))
        session.add_all(Alert(source=ANOMALY_SOURCE, fingerprint=f"a{i}", title=f"anomaly {i}", severity="medium",
                              status="firing", host=label, first_seen_at=T0, last_seen_at=T0, last_event_id=f"e{i}")
                        for i, label in enumerate(labels))
    async with sessions() as session:
        evidence = await gather(session, await session.get(Incident, incident_id), None)
    assert sorted(a.host for a in evidence.anomalies) == ["WEB-3.prod.example.com:9100", "web-3"]
