"""Incidents from error-ish log lines (`log.templated`) and from stored alerts (`alert.stored`, anomalies
included): group them (incidents/aggregator.py), store incidents and their timeline in PostgreSQL,
announce the changes on `aiops:incidents:changed` and on the live channel. A periodic sweep resolves
incidents that went quiet.

`IncidentTask` does all of that for one input stream; a subclass only says how a delivery becomes
signals (and may record, in the same transaction, where each signal went: the alert task links the
alert rows to their incidents).

Idempotent: envelope ids are claimed in the transaction that writes the incidents; a redelivered
envelope changes nothing and re-announces the incidents it had changed, under the same change ids: as
`incident.opened` (reopened or not) where its timeline row says it opened or reopened the incident, so a
change whose announcement failed after the commit (Redis down, a crash) is not announced as a mere update.
The sweep has no redelivery: its resolutions' timeline rows wait in the outbox (aiops_contracts.incidents), as an
operator's changes do when the API could not announce them, until a sweep has announced them.
"""

import asyncio
from abc import abstractmethod
from collections.abc import Iterable
from datetime import timedelta
from typing import ClassVar, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Incident
from aiops_contracts.events import (
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    AlertStoredPayload,
    IncidentStatus,
    LogEventsPayload,
    TimelineKind,
)
from aiops_contracts.incidents import announce_incident_changes, announce_pending, change_id, incident_changed
from aiops_contracts.streams import ALERTS_STORED, FORMER_AGGREGATOR_GROUP, FORMER_SHARED_GROUP, LOGS_TEMPLATED
from aiops_worker.incidents import store
from aiops_worker.incidents.aggregator import Aggregation, Policy
from aiops_worker.incidents.learning import TopologyLearner
from aiops_worker.incidents.signals import (
    ALERT_KEY_PREFIX,
    LOG_KEY_PREFIX,
    Signal,
    signal_from_alert,
    signal_from_log,
)
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.idempotency import claim_new_events
from aiops_worker.runtime.periodic import beside
from aiops_worker.settings import WorkerSettings

SOURCE = "aggregator"

P = TypeVar("P", bound=BaseModel)


class IncidentTask(StreamConsumer[P]):
    key_prefix: ClassVar[str]  # the group keys this task owns (its sweep resolves only incidents holding them)
    sweeps_mixed: ClassVar[bool]  # whether its sweep resolves incidents holding other tasks' keys too

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.policy = self.policy_of(ctx.settings)
        self.learner = TopologyLearner(ctx)  # the services of hosts the signals name, within the table's bound

    @staticmethod
    def window_s(settings: WorkerSettings) -> float:
        return settings.incident_window_s

    @classmethod
    def policy_of(cls, settings: WorkerSettings) -> Policy:
        """This task's grouping rules (the alert store guesses an alert's incident by the alert task's)."""
        return Policy(window=timedelta(seconds=cls.window_s(settings)), reopen=timedelta(seconds=settings.incident_reopen_s),
                      sample_limit=settings.incident_sample_limit,
                      correlate=timedelta(seconds=settings.incident_correlation_window_s),
                      key_prefix=cls.key_prefix, sweeps_mixed=cls.sweeps_mixed,
                      # An operator's reopening sticks for a full resolve window, the longer one, whichever task
                      # sweeps: the logs' window (seconds) would end it before anyone could act on it.
                      held=timedelta(seconds=max(settings.incident_window_s, settings.incident_alert_window_s)))

    @abstractmethod
    def signals(self, delivery: Delivery[P]) -> Iterable[Signal]:
        """The signals of one (first-time) delivery."""

    async def placed(self, session: AsyncSession, placements: list[tuple[Signal, Incident]]) -> None:
        """Called in the writing transaction with the incident each signal joined, in time order."""

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        if drain:
            await super().run(stop, drain=True)
            return
        await beside(super().run(stop), self.policy.window.total_seconds() / 2, stop, self.resolve_quiet)

    async def handle(self, batch: list[Delivery[P]]) -> None:
        async with self.ctx.sessions.begin() as session:
            fresh = await claim_new_events(session, self.name, [d.envelope.id for d in batch])
            signals = sorted((signal for d in batch if d.envelope.id in fresh for signal in self.signals(d)),
                             key=lambda s: s.at)
            aggregation = Aggregation(self.policy, await store.load_known(session, signals, self.policy))
            placements = [(signal, aggregation.add(signal)) for signal in signals]
            evidence = aggregation.settle()
            await store.add_incidents(session, aggregation.created)  # first: the timeline (and linked rows) point at them
            await store.add_timeline(session, list(aggregation.timeline.values()))
            await store.write_evidence(session, evidence)
            await self.learner.store(session, dict.fromkeys(aggregation.learned, {}))
            await self.placed(session, placements)
            again = await store.incidents_of_envelopes(session, [d.envelope.id for d in batch
                                                                 if d.envelope.id not in fresh])
        changes = [(incident, envelope_id, *aggregation.change_of(incident))
                   for incident, envelope_id in aggregation.changed.values()]
        changes += [(incident, envelope_id, *_state_change(incident, kinds)) for incident, envelope_id, kinds in again]
        await self._announce(changes)

    async def resolve_quiet(self) -> None:
        """The sweep: resolve the incidents that went quiet, commit, then announce every change no envelope caused
        and not announced yet (announce_pending): this sweep's resolutions, an earlier sweep's and an operator's
        changes whose announcement failed (Redis down, the stream full, a crash after the commit)."""
        async with self.ctx.sessions.begin() as session:
            await store.resolve_quiet(session, self.key_prefix, self.policy.window, mixed=self.sweeps_mixed,
                                      held=self.policy.held)
        async with self.ctx.sessions.begin() as session:
            await announce_pending(session, self.bus, source=SOURCE)

    async def _announce(self, changes: list[tuple[Incident, str, str, bool]]) -> None:
        envelopes = [incident_changed(incident, event_type, source=SOURCE, reopened=reopened,
                                      envelope_id=change_id(cause, str(incident.id), event_type))
                     for incident, cause, event_type, reopened in changes]
        await announce_incident_changes(self.bus, envelopes)


class LogIncidentTask(IncidentTask[LogEventsPayload]):
    name = "incidents-logs"
    stream = LOGS_TEMPLATED
    former_group = FORMER_SHARED_GROUP
    payload_model = LogEventsPayload
    key_prefix = LOG_KEY_PREFIX
    sweeps_mixed = False  # its window (seconds) is shorter than the alerts' (minutes)

    def signals(self, delivery: Delivery[LogEventsPayload]) -> Iterable[Signal]:
        return (signal_from_log(event, delivery.envelope.id) for event in delivery.payload.events)


class AlertIncidentTask(IncidentTask[AlertStoredPayload]):
    """Stored alerts (webhooks, Alertmanager, Sentry, the anomaly detector) into incidents; each alert row
    is linked to the incident its latest firing event joined (`alerts.incident_id`)."""

    name = "incidents-alerts"
    stream = ALERTS_STORED
    former_group = FORMER_AGGREGATOR_GROUP
    payload_model = AlertStoredPayload
    key_prefix = ALERT_KEY_PREFIX
    sweeps_mixed = True
    linger_s = 0.5  # alert bursts come in many small batches: group them in fewer transactions

    @staticmethod
    def window_s(settings: WorkerSettings) -> float:
        return settings.incident_alert_window_s

    def signals(self, delivery: Delivery[AlertStoredPayload]) -> Iterable[Signal]:
        at = delivery.payload.occurred_at or delivery.envelope.time
        signal = signal_from_alert(delivery.payload, delivery.envelope.id, at)
        return [signal] if signal else []

    async def placed(self, session: AsyncSession, placements: list[tuple[Signal, Incident]]) -> None:
        # In time order, so an alert seen twice in the batch ends up on the incident of its latest event.
        await store.link_alerts(session, {signal.ref: incident.id for signal, incident in placements if signal.ref})


def _state_change(incident: Incident, kinds: set[str]) -> tuple[str, bool]:
    """What to announce again for an incident a redelivered envelope had changed, as Aggregation.change_of did the
    first time, from the kinds of the timeline rows the envelope wrote there: resolved, else opened (reopened) when
    the envelope opened or reopened it, else updated."""
    if incident.status == IncidentStatus.resolved:
        return INCIDENT_RESOLVED, False
    if TimelineKind.opened in kinds or TimelineKind.reopened in kinds:
        return INCIDENT_OPENED, TimelineKind.reopened in kinds
    return INCIDENT_UPDATED, False
