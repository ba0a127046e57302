"""The replay itself: archived alerts and log lines, and InfluxDB's metric points, run through the worker's
own code with candidate settings, in memory, from the run's starting state (replay/start.py). Plain CPU work on
its inputs (the task runs it in a thread):

- metric points feed the detectors (anomalies/detectors.py; from a snapshot, warmed on the points before the
  range first); an anomaly passes the alert gate (anomalies/alerts.is_alertable) with the candidate thresholds
  and becomes the same alert envelope as live;
- log lines go through the miner (from a snapshot, seeded with the templates known at the start, and their
  prototypes) and the candidate failure rules (logs/analysis.py); error-ish lines become `log.templated` events
  (a template first seen in the replay gets no prototype: ChromaDB is not consulted);
- every signal, in time order, goes to the incident aggregator (incidents/aggregator.py) with the candidate
  windows, starting from the starting state's incidents, the stored topology and the operators' splits;
- opened incidents and anomaly or predictive alerts are matched against the candidate automation rules
  (automations/matching.py): at most one run per rule and trigger, guards (cooldown, rate) not applied.

Why in memory and not the live tasks on prefixed streams and a scratch schema. Every decision that places an
event (join, reopen, open, correlate, resolve by the next event) is made by `Aggregation`, in Python, the same
object the live task runs. PostgreSQL (incidents/store.py) decides three things around it, which the replay
reproduces: (1) a key's latest incident, the one first seen last, which the aggregation keeps itself within a
batch (the replay is one batch; `Start.known` picks as `lock_latest` does); (2) the incidents a batch may
correlate with, those whose span meets the correlation window, which `Aggregation._correlate` tests again on
every candidate it holds (the replay's own, and a snapshot's); (3) the resolution of quiet incidents by the
periodic sweep (`resolve_quiet`), by the wall clock. A scratch schema could not replay (3): the replay runs faster
than the events happened, so `now()` is never past an incident's window. `Sweep` applies the sweep's rule in event
time instead, before each signal; without it an incident that live resolved (a log burst, 5 s) would still be open
when its own pattern fires again a minute later, and take it instead of opening a new episode (rule 3).
What still differs: ties between equally good correlation candidates (live: in id order among the 1,000 it loads),
and live's batch boundaries. In memory the replay is isolated by construction: it holds no session that writes,
publishes nothing, and its incidents are detached objects; the task stores only the run's result.
"""

import heapq
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from aiops_contracts.automations import RuleSpec
from aiops_contracts.db import Incident
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import (
    INCIDENT_OPENED,
    AlertPayload,
    AlertStatus,
    AlertStoredPayload,
    IncidentChangedPayload,
    IncidentStatus,
    LogsPayload,
)
from aiops_contracts.incidents import change_id, incident_changed
from aiops_contracts.replay import ReplayChanges
from aiops_worker.anomalies.alerts import ANOMALY_SOURCE, anomaly_envelope, is_alertable
from aiops_worker.anomalies.detectors import DetectorBank, DetectorConfig
from aiops_worker.anomalies.series import MetricPoint
from aiops_worker.automations.matching import TriggerEvent, alert_kind, incident_event, matches
from aiops_worker.incidents.aggregator import Aggregation, Policy
from aiops_worker.incidents.correlation import Topology
from aiops_worker.incidents.signals import ALERT_KEY_PREFIX, LOG_KEY_PREFIX, Signal, signal_from_alert, signal_from_log
from aiops_worker.logs.analysis import LogAnalyser, log_event
from aiops_worker.logs.mining import MinerLimits, TemplateMiner
from aiops_worker.logs.rules import DEFAULT_RULES_PATH, Classifier, Rule, load_rules, rules_from
from aiops_worker.replay.start import Start
from aiops_worker.runtime.consumer import Delivery
from aiops_worker.settings import WorkerSettings

LOG_CHUNK = 500  # log envelopes per analysis, as the live task's batches
CHECK_EVERY = 1_000  # points or signals between two looks at the clock


class ReplayTimeout(Exception):
    """The replay ran past its deadline (REPLAY_TIMEOUT_S)."""


def _in_time(deadline: float, done: int) -> None:
    if done % CHECK_EVERY == 0 and time.monotonic() > deadline:
        raise ReplayTimeout("the replay ran past REPLAY_TIMEOUT_S; replay a shorter range")


_ALERT_IDS = uuid.UUID("3b8f5f0a-7d8e-4d59-9a43-1f0c1e0b7a55")  # alert rows are one per source + fingerprint


@dataclass(frozen=True)
class Candidate:
    """The settings a replay runs with: the worker's, with the admin's changes applied."""

    log_policy: Policy
    alert_policy: Policy
    min_z: float
    max_log10_p: float
    log_rules: list[Rule]
    automation_rules: list[RuleSpec]
    miner_limits: MinerLimits
    bucket_s: int
    max_series: int


@dataclass
class Inputs:
    alerts: list[Envelope]  # archived `alert.received`, time order
    logs: list[Envelope]  # archived `logs.received`, time order
    points: list[MetricPoint]  # InfluxDB's points of the range, time order
    topology: Topology
    metrics: bool  # anomaly alerts come from `points`, not from the archive
    start: Start


@dataclass
class Outcome:
    incidents: list[Incident] = field(default_factory=list)  # opened by the replay
    continued: list[Incident] = field(default_factory=list)  # of the starting state, joined by replayed events
    members: dict[uuid.UUID, set[str]] = field(default_factory=lambda: defaultdict(set))  # incident -> envelope ids
    alerts: list[Envelope] = field(default_factory=list)  # firing alerts raised (archived + regenerated anomalies)
    automations: list[tuple[str, TriggerEvent]] = field(default_factory=list)  # (rule, trigger)
    skipped: int = 0  # archived entries that no longer decode


def simulate(inputs: Inputs, candidate: Candidate, deadline: float) -> Outcome:
    """The replay's outcome; ReplayTimeout once `deadline` (time.monotonic) has passed."""
    outcome = Outcome()
    alerts = [e for e in inputs.alerts if not (inputs.metrics and e.source == ANOMALY_SOURCE)]
    alerts = sorted([*alerts, *_anomalies(inputs, candidate, deadline)], key=lambda e: e.time)
    signals = [*_alert_signals(alerts, outcome), *_log_signals(inputs, candidate, outcome, deadline)]
    known = inputs.start.known(inputs.topology)
    logs, others = Aggregation(candidate.log_policy, known), Aggregation(candidate.alert_policy, known)
    sweep = Sweep(logs, others)
    for incident in inputs.start.incidents:
        sweep.watch(incident)
    for done, signal in enumerate(sorted(signals, key=lambda s: s.at)):
        _in_time(deadline, done)
        sweep.until(signal.at)
        incident = (logs if signal.key.startswith(LOG_KEY_PREFIX) else others).add(signal)
        sweep.watch(incident)
        outcome.members[incident.id].add(signal.envelope_id)
    logs.settle()
    others.settle()
    outcome.incidents = [*logs.created, *others.created]
    outcome.continued = [i for i in inputs.start.incidents if i.id in outcome.members]
    outcome.automations = list(_automations(outcome, candidate.automation_rules))
    return outcome


class Sweep:
    """The periodic sweep of the incident tasks (store.resolve_quiet) in event time: an incident is resolved once
    `at` is past its last event + the window of the task that sweeps it, the alerts' when it holds an alert key
    (that task's sweep takes mixed incidents), else the logs'. Incidents wait in a heap by when they go quiet."""

    def __init__(self, logs: Aggregation, alerts: Aggregation) -> None:
        self.logs, self.alerts = logs, alerts
        self._due: list[tuple[datetime, int, Incident]] = []
        self._order = itertools.count()  # ties: no comparing incidents

    def watch(self, incident: Incident) -> None:
        heapq.heappush(self._due, (self._quiet_at(incident), next(self._order), incident))

    def until(self, at: datetime) -> None:
        while self._due and self._due[0][0] < at:
            _, _, incident = heapq.heappop(self._due)
            if incident.status == IncidentStatus.resolved:
                continue
            if self._quiet_at(incident) < at:
                self._sweeper(incident).resolve_quiet(incident)
            else:  # it took events, or an alert key, since it was watched
                self.watch(incident)

    def _sweeper(self, incident: Incident) -> Aggregation:
        keys = self.alerts.known.evidence.get(incident.id, {})
        return self.alerts if any(key.startswith(ALERT_KEY_PREFIX) for key, *_ in keys) else self.logs

    def _quiet_at(self, incident: Incident) -> datetime:
        return incident.last_seen_at + self._sweeper(incident).policy.window


def _anomalies(inputs: Inputs, candidate: Candidate, deadline: float) -> list[Envelope]:
    bank = DetectorBank(DetectorConfig(), candidate.max_series)
    for done, point in enumerate(inputs.start.warmup):  # what the detectors had seen: nothing is raised
        _in_time(deadline, done)
        bank.update(point.series.id, point.ts, point.value)
    raised = []
    for done, point in enumerate(inputs.points):
        _in_time(deadline, done)
        result = bank.update(point.series.id, point.ts, point.value)
        if result.event is not None and is_alertable(result.event, candidate.min_z, candidate.max_log10_p):
            raised.append(anomaly_envelope(point.series, result))
    return raised


def _alert_signals(alerts: list[Envelope], outcome: Outcome) -> Iterator[Signal]:
    for envelope in alerts:
        try:
            alert = AlertPayload.model_validate(envelope.payload)
        except ValidationError:
            outcome.skipped += 1
            continue
        if alert.status == AlertStatus.firing:
            outcome.alerts.append(envelope)
        at = alert.occurred_at or envelope.time
        stored = AlertStoredPayload(
            alert_id=str(uuid.uuid5(_ALERT_IDS, f"{envelope.source}\n{alert.fingerprint}")),
            fingerprint=alert.fingerprint, title=alert.title, severity=alert.severity, status=alert.status,
            source=envelope.source, host=alert.host, service=alert.service, count=1, occurred_at=at,
            signal=alert.signal)
        signal = signal_from_alert(stored, envelope.id, at)
        if signal is not None:
            yield signal


def _log_signals(inputs: Inputs, candidate: Candidate, outcome: Outcome, deadline: float) -> Iterator[Signal]:
    envelopes, state = inputs.logs, inputs.start.miner_state
    miner = (TemplateMiner.from_state(state, candidate.miner_limits) if state
             else TemplateMiner(limits=candidate.miner_limits))
    analyser = LogAnalyser(miner, Classifier(candidate.log_rules), candidate.bucket_s)
    for start in range(0, len(envelopes), LOG_CHUNK):
        _in_time(deadline, 0)
        batch = []
        for envelope in envelopes[start:start + LOG_CHUNK]:
            try:
                payload = LogsPayload.model_validate(envelope.payload).labelled()
            except ValidationError:
                outcome.skipped += 1
                continue
            batch.append(Delivery(envelope.id, envelope, payload))
        analysis = analyser.analyse(batch, {d.envelope.id for d in batch})
        for line in analysis.errors:
            # As the live task: a line whose template the bound forgot goes under the id it was counted under.
            yield signal_from_log(log_event(line, miner, inputs.start.prototype_of, analysis.evicted), line.envelope_id)


def _automations(outcome: Outcome, rules: list[RuleSpec]) -> Iterator[tuple[str, TriggerEvent]]:
    triggers: list[TriggerEvent] = []
    for incident in outcome.incidents:
        envelope_id = change_id("replay", str(incident.id), INCIDENT_OPENED)
        changed = incident_changed(incident, INCIDENT_OPENED, source="replay", envelope_id=envelope_id)
        # As announced when it opened: open then, whatever the rest of the range did to it (the sweep resolves it).
        opened = IncidentChangedPayload.model_validate({**changed.payload, "status": IncidentStatus.open})
        event = incident_event(envelope_id, INCIDENT_OPENED, opened)
        if event is not None:
            triggers.append(event)
    for envelope in outcome.alerts:
        kind = alert_kind(envelope.source)
        if kind is not None:
            alert = AlertPayload.model_validate(envelope.payload)
            triggers.append(TriggerEvent(key=envelope.id, kind=kind, severity=alert.severity.value, title=alert.title,
                                         host=alert.host, service=alert.service, labels=dict(alert.labels),
                                         details=dict(alert.details), at=alert.occurred_at or envelope.time))
    for event in triggers:
        for rule in rules:
            if rule.enabled and matches(rule.trigger, event):
                yield rule.name, event


def candidate_of(settings: WorkerSettings, changes: ReplayChanges, automation_rules: list[RuleSpec]) -> Candidate:
    """The worker's settings with the changes applied; RulesError for candidate log rules RE2 cannot run.
    `automation_rules` are the enabled stored ones, used unless the changes give their own."""
    def value(name: str) -> float:
        given = getattr(changes, name)
        return float(getattr(settings, name) if given is None else given)

    reopen, correlate = timedelta(seconds=settings.incident_reopen_s), timedelta(seconds=value("incident_correlation_window_s"))
    log_rules = (rules_from([r.model_dump(exclude_none=True) for r in changes.log_rules]) if changes.log_rules is not None
                 else load_rules(Path(settings.log_rules_path) if settings.log_rules_path else DEFAULT_RULES_PATH))
    return Candidate(
        log_policy=Policy(timedelta(seconds=value("incident_window_s")), reopen, settings.incident_sample_limit, correlate),
        alert_policy=Policy(timedelta(seconds=value("incident_alert_window_s")), reopen, settings.incident_sample_limit,
                            correlate),
        min_z=value("anomaly_alert_min_z"), max_log10_p=value("anomaly_alert_max_log10_p"), log_rules=log_rules,
        automation_rules=automation_rules if changes.automation_rules is None else changes.automation_rules,
        miner_limits=MinerLimits(max_line_chars=settings.log_max_line_chars, max_token_chars=settings.log_max_token_chars,
                                 max_candidates=settings.log_max_candidates,
                                 max_line_comparisons=settings.log_line_max_comparisons,
                                 max_clusters=settings.log_max_templates),
        bucket_s=settings.log_trend_bucket_s, max_series=settings.anomaly_max_series)
