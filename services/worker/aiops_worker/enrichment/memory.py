"""The incident memory: when an incident is resolved, record how (the operator who resolved it since its last
reopening, from the audit log, else the aggregator as it went quiet; the automation runs on it; minutes from first
sight to resolution) and embed it into ChromaDB's `incidents` collection (aiops_contracts.incident_memory), so that
enrichment and the chat can say what happened last time (not embedded with LOG_EMBEDDINGS_ENABLED=false).
Idempotent (upserts): a redelivered change writes the same rows."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import AuditEntry, AutomationRun, Incident, IncidentEvent, IncidentResolution
from aiops_contracts.events import INCIDENT_RESOLVED, IncidentChangedPayload, IncidentStatus, TimelineKind
from aiops_contracts.incident_memory import IncidentMemory
from aiops_contracts.streams import INCIDENTS_CHANGED
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext

RESOLVED_ACTION = "incident.resolved"  # the audit action of an operator's resolution (api triage)
AGGREGATOR = "aggregator"  # resolved_by when no operator resolved it: it went quiet


class IncidentMemoryTask(StreamConsumer[IncidentChangedPayload]):
    name = "incident_memory"
    stream = INCIDENTS_CHANGED
    payload_model = IncidentChangedPayload
    scales_out = True  # upserts by incident id

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.memory = IncidentMemory(ctx.settings) if ctx.settings.log_embeddings_enabled else None

    async def handle(self, batch: list[Delivery[IncidentChangedPayload]]) -> None:
        ids = {uuid.UUID(d.payload.incident_id) for d in batch if d.envelope.type == INCIDENT_RESOLVED}
        if not ids:
            return
        async with self.ctx.sessions.begin() as session:
            resolved = (await session.scalars(select(Incident).where(
                Incident.id.in_(ids), Incident.status == IncidentStatus.resolved,
                Incident.resolved_at.is_not(None)))).all()
            if not resolved:
                return
            rows = await _resolutions(session, resolved)
            stmt = insert(IncidentResolution).values(rows)
            await session.execute(stmt.on_conflict_do_update(
                index_elements=[IncidentResolution.incident_id],
                set_={c: stmt.excluded[c] for c in ("resolved_at", "resolved_by", "actions", "minutes_to_resolve")}))
        if self.memory is not None:  # LOG_EMBEDDINGS_ENABLED=false: no model, no ChromaDB
            for incident in resolved:
                await self.memory.remember(incident)


async def _resolutions(session: AsyncSession, resolved: Sequence[Incident]) -> list[dict[str, Any]]:
    """incident_resolutions rows: who resolved each (the audit log's operator, else the aggregator), the
    automation runs on it, and minutes from first sight to resolution."""
    resolvers = await _resolvers(session, [i.id for i in resolved])
    actions: dict[uuid.UUID | None, list[str]] = {}
    for run in await session.scalars(select(AutomationRun).where(
            AutomationRun.incident_id.in_([i.id for i in resolved])).order_by(AutomationRun.created_at)):
        actions.setdefault(run.incident_id, []).append(f"{run.rule_name}: {run.status}")
    return [{"incident_id": i.id, "resolved_at": i.resolved_at, "resolved_by": resolvers.get(i.id, AGGREGATOR),
             "actions": actions.get(i.id, []),
             "minutes_to_resolve": round((i.resolved_at - i.first_seen_at).total_seconds() / 60, 1)}
            for i in resolved]


async def _resolvers(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The operator of each incident's latest resolution in the audit log, of those at or after its last reopening
    (timeline `reopened`, the aggregator's or an operator's) only: an incident resolved by an operator, reopened
    and then gone quiet was resolved by the aggregator, and is not in the answer."""
    reopened = dict((await session.execute(
        select(IncidentEvent.incident_id, func.max(IncidentEvent.at)).where(
            IncidentEvent.incident_id.in_(ids), IncidentEvent.kind == TimelineKind.reopened)
        .group_by(IncidentEvent.incident_id))).all())
    entries = (await session.execute(
        select(AuditEntry.entity_id, AuditEntry.actor, AuditEntry.at).where(
            AuditEntry.entity_type == "incident", AuditEntry.action == RESOLVED_ACTION,
            AuditEntry.entity_id.in_([str(i) for i in ids])).order_by(AuditEntry.at))).all()
    resolvers: dict[uuid.UUID, str] = {}
    for entity_id, actor, at in entries:
        incident_id = uuid.UUID(entity_id)
        if at >= reopened.get(incident_id, at):
            resolvers[incident_id] = actor
    return resolvers
