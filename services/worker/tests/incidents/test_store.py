"""The aggregator's writes hold any batch: evidence rows are sent as one array per column (14 bound parameters
whatever their number; as rows of VALUES, 14 a row, the 6,000 here would pass PostgreSQL's 65,535), all
written, and written again as an update. Its reads keep an unresolved incident among a batch's candidates
however many resolved ones its window holds."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from aiops_contracts.db import Incident, IncidentSignal
from aiops_contracts.events import IncidentStatus, Severity
from aiops_worker.incidents import store
from aiops_worker.incidents.aggregator import Policy
from aiops_worker.incidents.signals import Signal
from aiops_worker.runtime.context import WorkerContext

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROWS = 6000
POLICY = Policy(window=timedelta(seconds=5), reopen=timedelta(hours=1), sample_limit=3, correlate=timedelta(minutes=5))


def entry(incident_id: uuid.UUID, n: int, count: int) -> dict[str, object]:
    return {"incident_id": incident_id, "group_key": f"log:tpl-{n}:host-{n}", "kind": "log", "source": "", "title": "failed",
            "host": f"host-{n}", "service": None, "template_id": f"tpl-{n}", "score": None, "count": count,
            "first_seen_at": AT, "last_seen_at": AT, "rule": "opened", "via": ""}


async def test_evidence_of_a_batch_beyond_one_statement_is_written(worker_ctx: WorkerContext) -> None:
    incident = Incident(id=uuid.uuid4(), group_key="log:tpl-0:host-0", title="failed", summary="", severity="high",
                        status=IncidentStatus.open, event_count=ROWS, hosts=[], services=[], first_seen_at=AT,
                        last_seen_at=AT, details={})
    async with worker_ctx.sessions.begin() as session:
        session.add(incident)
        await session.flush()
        await store.write_evidence(session, [entry(incident.id, n, 1) for n in range(ROWS)])
    async with worker_ctx.sessions.begin() as session:
        await store.write_evidence(session, [entry(incident.id, n, 2) for n in range(ROWS)])
    async with worker_ctx.sessions() as session:
        counts = (await session.execute(select(func.count(), func.sum(IncidentSignal.count))
                                        .where(IncidentSignal.incident_id == incident.id))).one()
    assert tuple(counts) == (ROWS, 2 * ROWS)


async def test_unresolved_incidents_come_first_among_candidates_then_the_latest_seen(
    worker_ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_CANDIDATES", 2)
    incidents = [Incident(id=uuid.uuid4(), group_key=f"log:tpl-{n}:host-{n}", title="failed", summary="",
                          severity="high", status=status, event_count=1, hosts=[], services=[],
                          first_seen_at=AT, last_seen_at=AT + timedelta(seconds=seen), details={})
                 for n, (status, seen) in enumerate([(IncidentStatus.resolved, 30), (IncidentStatus.open, 0),
                                                     (IncidentStatus.resolved, 20), (IncidentStatus.resolved, 10)])]
    async with worker_ctx.sessions.begin() as session:
        session.add_all(incidents)
    signal = Signal(event_id="e", envelope_id="e", key="log:other:host-9", title="failed", severity=Severity.high,
                    at=AT, host="host-9", service=None, message="failed")
    async with worker_ctx.sessions.begin() as session:
        known = await store.load_known(session, [signal], POLICY)
        assert list(known.candidates.incidents) == [incidents[1].id, incidents[0].id]
