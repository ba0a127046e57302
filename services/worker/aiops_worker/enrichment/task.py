"""Incident enrichment: every new or materially changed incident gets a title, summary, probable cause with
its evidence, impact, next checks and a severity recommendation (by the LLM when one is configured, else by
rules), on the incident (`summary`, `details.enrichment`) and announced on the live channel.

It never holds up the bus: a batch of `incident.*` changes only marks incidents due in `incident_enrichments`
and is acked at once. A loop takes due rows (SKIP LOCKED: any number of replicas), gathers the evidence,
and enriches only when its material key changed (new signal kind, severity change, 10x growth). The row is
claimed in a short transaction (its due time moved past the LLM's longest answer, so another replica passes it
by), explained with no transaction open, and the outcome written in another: a change announced meanwhile is
marked due without waiting on the LLM, and the incident is looked at again. While the
LLM is down or its hourly budget spent, the row is retried with back-off (an incident never enriched gets
the rule-based enrichment meanwhile); a malformed LLM answer is recorded as failed and rules answer."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Incident, IncidentEnrichment
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import (
    INCIDENT_ENRICHED,
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    IncidentChangedPayload,
)
from aiops_contracts.incident_memory import IncidentMemory
from aiops_contracts.llm import LLMClient, LLMMalformed, LLMRequest, LLMUnavailable
from aiops_contracts.streams import INCIDENTS_CHANGED
from aiops_worker.enrichment import prompt
from aiops_worker.enrichment.evidence import Evidence, gather, material_key
from aiops_worker.enrichment.rules import Enrichment, by_rules
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import beside

log = logging.getLogger(__name__)

RETRY_FIRST_S, RETRY_MAX_S = 30.0, 3_600.0


class EnrichmentTask(StreamConsumer[IncidentChangedPayload]):
    name = "enrichment"
    stream = INCIDENTS_CHANGED
    payload_model = IncidentChangedPayload
    scales_out = True  # state in PostgreSQL, rows taken with SKIP LOCKED

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.llm = LLMClient(ctx.settings, ctx.redis)
        # Similar past incidents need the embedding model and ChromaDB (off with LOG_EMBEDDINGS_ENABLED=false).
        self.memory = IncidentMemory(ctx.settings) if ctx.settings.log_embeddings_enabled else None

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        try:
            if drain:
                await super().run(stop, drain=True)
                await self.enrich_due()
                return
            if self.memory is not None:  # at start, as the log task does: not mid-burst, on the first incident
                await self.memory.load()
            await beside(super().run(stop), self.settings.enrichment_interval_s, stop, self.enrich_due)
        finally:
            await self.llm.aclose()

    async def handle(self, batch: list[Delivery[IncidentChangedPayload]]) -> None:
        """Mark the changed incidents due (an opened one now, an updated one after the debounce)."""
        now = datetime.now(UTC)
        due: dict[str, datetime] = {}
        for d in batch:
            if d.envelope.type == INCIDENT_RESOLVED:
                continue
            wait = 0.0 if d.envelope.type == INCIDENT_OPENED or d.payload.reopened else self.settings.enrichment_debounce_s
            at = now + timedelta(seconds=wait)
            due[d.payload.incident_id] = min(at, due.get(d.payload.incident_id, at))
        if not due:
            return
        stmt = insert(IncidentEnrichment).values([{"incident_id": i, "due_at": at, "attempts": 0, "last_error": ""}
                                                  for i, at in due.items()])
        stmt = stmt.on_conflict_do_update(
            index_elements=[IncidentEnrichment.incident_id], set_={"due_at": stmt.excluded.due_at},
            where=IncidentEnrichment.due_at.is_(None) | (IncidentEnrichment.due_at > stmt.excluded.due_at))
        async with self.ctx.sessions.begin() as session:
            await session.execute(stmt)

    async def enrich_due(self) -> None:
        while await self.enrich_next():
            pass

    async def enrich_next(self) -> bool:
        """Enrich the next due incident, if any; False when none is due."""
        async with self.ctx.sessions.begin() as session:
            job = await session.scalar(
                select(IncidentEnrichment).where(IncidentEnrichment.due_at <= datetime.now(UTC))
                .order_by(IncidentEnrichment.due_at).limit(1).with_for_update(skip_locked=True))
            if job is None:
                return False
            incident = await session.get(Incident, job.incident_id)
            if incident is None:  # deleted meanwhile (its row goes with it)
                return True
            evidence = await gather(session, incident, self.memory)
            key = material_key(evidence)
            wanted = "llm" if self.llm.enabled else "rules"
            if job.enriched_key == key and job.mode == wanted:
                job.due_at = None
                return True
            lease = job.due_at = datetime.now(UTC) + timedelta(seconds=self._longest_explain_s())
        enrichment = await self._explain(job, evidence)  # no transaction open while the LLM answers
        async with self.ctx.sessions.begin() as session:
            stored = await session.get(IncidentEnrichment, job.incident_id, with_for_update=True)
            if stored is None:  # the incident was deleted meanwhile
                return True
            if enrichment is not None:
                await _write(session, incident, enrichment, job.mode or "rules", evidence)
                stored.enriched_key = key if job.due_at is None else stored.enriched_key
            stored.mode, stored.attempts, stored.last_error = job.mode, job.attempts, job.last_error
            if stored.due_at == lease:  # else announced again meanwhile: due when handle() said
                stored.due_at = job.due_at
        if enrichment is not None:
            await self._announce(incident, enrichment, job.mode or "rules")
        return True

    def _longest_explain_s(self) -> float:
        """How long a claimed job is held: the LLM's two calls with their retries, and a margin."""
        per_call = (self.settings.llm_max_retries + 1) * (self.settings.llm_timeout_s + 1)
        return 2 * per_call + 5

    async def _explain(self, job: IncidentEnrichment, evidence: Evidence) -> Enrichment | None:
        """The enrichment to write now (None: keep what is there); sets the job's mode, due time and error."""
        job.due_at, job.last_error = None, ""
        if not self.llm.enabled:
            job.mode = "rules"
            return by_rules(evidence)
        request = LLMRequest("enrichment", prompt.messages(evidence), cache_key=prompt.cache_key(evidence))
        try:
            answer = await self.llm.structured(request, Enrichment)
        except LLMMalformed as exc:
            job.mode, job.last_error, job.attempts = "rules", str(exc), 0
            log.warning("enrichment answer malformed, rules used", extra={"incident_id": str(job.incident_id)})
            return by_rules(evidence)
        except LLMUnavailable as exc:
            return self._retry_later(job, evidence, str(exc))
        job.mode, job.attempts = "llm", 0
        return answer

    def _retry_later(self, job: IncidentEnrichment, evidence: Evidence, error: str) -> Enrichment | None:
        job.attempts += 1
        job.last_error = error
        if job.attempts < self.settings.enrichment_max_attempts:
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (job.attempts - 1))
            job.due_at = datetime.now(UTC) + timedelta(seconds=delay)
        log.warning("llm unavailable, enrichment retried later",
                    extra={"incident_id": str(job.incident_id), "attempts": job.attempts, "error": error})
        if job.mode is None or job.due_at is None:  # never enriched, or given up: rules meanwhile
            job.mode = "rules"
            return by_rules(evidence)
        return None

    async def _announce(self, incident: Incident, enrichment: Enrichment, mode: str) -> None:
        envelope = Envelope(type=INCIDENT_ENRICHED, source=self.name, payload={
            "incident_id": str(incident.id), "title": enrichment.title, "summary": enrichment.summary, "mode": mode})
        await self.bus.broadcast([envelope])


async def _write(session: AsyncSession, incident: Incident, enrichment: Enrichment, mode: str,
                 evidence: Evidence) -> None:
    """Title, summary and `details.enrichment` in one UPDATE (`details ||`: the aggregator's keys are kept), with
    the similar past incidents it found (the chat's "what happened last time" reads them there)."""
    stored = {**enrichment.model_dump(mode="json"), "mode": mode, "enriched_at": datetime.now(UTC).isoformat(),
              "similar": [p.model_dump(mode="json") for p in evidence.similar]}
    await session.execute(
        update(Incident).where(Incident.id == incident.id)
        .values(title=enrichment.title, summary=enrichment.summary,
                details=Incident.details.op("||")(literal({"enrichment": stored}, JSONB)))
        .execution_options(synchronize_session=False))
