"""Incidents from error-ish log lines (`log.templated`): group them (incidents/aggregator.py), store
incidents and their timeline in PostgreSQL, announce the changes on `aiops:incidents:changed` and on
the live channel. A periodic sweep resolves incidents that went quiet.

Idempotent: envelope ids are claimed in the transaction that writes the incidents; a redelivered
envelope changes nothing and re-announces the incidents it had changed, under the same change ids.
"""

import asyncio
from datetime import timedelta

from aiops_contracts.bus import publish_many
from aiops_contracts.db import Incident
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import INCIDENT_RESOLVED, INCIDENT_UPDATED, IncidentChangedPayload, LogEventsPayload
from aiops_contracts.streams import INCIDENTS_CHANGED, LIVE_CHANNEL, LOGS_TEMPLATED
from aiops_worker.incidents import store
from aiops_worker.incidents.aggregator import Aggregation, Policy, change_id, signal_from_log
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.idempotency import claim_new_events
from aiops_worker.runtime.periodic import run_every

SOURCE = "aggregator"


class LogIncidentTask(StreamConsumer[LogEventsPayload]):
    name = "incidents-logs"
    stream = LOGS_TEMPLATED
    payload_model = LogEventsPayload

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.policy = Policy(window=timedelta(seconds=ctx.settings.incident_window_s),
                             reopen=timedelta(seconds=ctx.settings.incident_reopen_s),
                             sample_limit=ctx.settings.incident_sample_limit)

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        if drain:
            await super().run(stop, drain=True)
            return
        async with asyncio.TaskGroup() as group:
            group.create_task(super().run(stop))
            group.create_task(run_every(self.settings.incident_window_s / 2, stop, self.resolve_quiet))

    async def handle(self, batch: list[Delivery[LogEventsPayload]]) -> None:
        async with self.ctx.sessions.begin() as session:
            fresh = await claim_new_events(session, self.name, [d.envelope.id for d in batch])
            signals = sorted((signal_from_log(event, d.envelope.id) for d in batch if d.envelope.id in fresh
                              for event in d.payload.events), key=lambda s: s.at)
            aggregation = Aggregation(self.policy, await store.lock_latest(session, {s.key for s in signals}))
            for signal in signals:
                aggregation.add(signal)
            session.add_all(aggregation.created)
            await session.flush()  # incidents first: the timeline rows point at them
            await store.add_timeline(session, list(aggregation.timeline.values()))
            again = await store.incidents_of_envelopes(session, [d.envelope.id for d in batch
                                                                 if d.envelope.id not in fresh])
        changes = [(incident, envelope_id, *aggregation.change_of(incident))
                   for incident, envelope_id in aggregation.changed.values()]
        changes += [(incident, envelope_id, *_state_change(incident)) for incident, envelope_id in again]
        await self._announce(changes)

    async def resolve_quiet(self) -> None:
        async with self.ctx.sessions.begin() as session:
            resolved = await store.resolve_quiet(session, self.policy.window)
        await self._announce([(i, f"resolved:{i.resolved_at.isoformat()}", INCIDENT_RESOLVED, False)
                              for i in resolved])

    async def _announce(self, changes: list[tuple[Incident, str, str, bool]]) -> None:
        envelopes = [_envelope(*change) for change in changes]
        if not envelopes:
            return
        await publish_many(self.redis, INCIDENTS_CHANGED, envelopes, self.settings.stream_maxlen_factor)
        async with self.redis.pipeline(transaction=False) as pipe:
            for envelope in envelopes:
                pipe.publish(LIVE_CHANNEL, envelope.model_dump_json())
            await pipe.execute()


def _state_change(incident: Incident) -> tuple[str, bool]:
    return (INCIDENT_RESOLVED if incident.status == "resolved" else INCIDENT_UPDATED), False


def _envelope(incident: Incident, cause: str, event_type: str, reopened: bool) -> Envelope:
    payload = IncidentChangedPayload(
        incident_id=str(incident.id), group_key=incident.group_key, title=incident.title,
        severity=incident.severity, status=incident.status, event_count=incident.event_count,
        hosts=incident.hosts, services=incident.services, first_seen_at=incident.first_seen_at,
        last_seen_at=incident.last_seen_at, reopened=reopened)
    return Envelope(id=change_id(cause, str(incident.id), event_type), type=event_type, source=SOURCE,
                    payload=payload.model_dump(mode="json"))
