"""The issues aggregator: groups related signals (incidents/signals.py: what they are, their group keys) into
incidents.

The rule, per group key:
1. An event joins the key's latest incident while it is open or acknowledged and the event is no more
   than `window` (logs: INCIDENT_WINDOW_S, 5 s; alerts: INCIDENT_ALERT_WINDOW_S, 10 min) after that
   incident's last event. Acknowledging an incident does not change this: it keeps collecting events.
2. After `window` of quiet the incident is resolved, at its last event + `window`: by the periodic
   sweep (no new event for `window` of wall-clock time), or by the next event when a backlog or a
   replayed file delivers events faster than real time, or when the sweep has not run yet. Both give the
   same result: the next event resolves the incident before it looks for one to join, as if the sweep had
   run. (Only an incident this task's sweep resolves: one that joined signals of the log and alert tasks is
   resolved by the alert task's, with its longer window, and until then the log task's events join it.)
3. An event for a resolved incident reopens it (same incident, back to `open`, `reopened` on the
   timeline) when it comes within `reopen` (INCIDENT_REOPEN_S, 1 h) of the resolution and the incident
   holds that key alone (a flapping alert, an intermittent log pattern); later, it opens a new incident.
   An incident that correlated several signals is one episode, bounded in event time: when one of its
   keys fires again after it ended, that is a new incident (which may correlate with what is open now),
   not a reopening that would pull the next fault on a shared host into the old one.
4. An event that happened at or before a resolved incident's resolution is late news of the episode
   that was resolved (a backlog, a slow source): it is counted in that incident, which stays resolved.
5. An event more than `window` before the incident's first event is another, earlier episode: it joins the
   key's earlier incident whose span, widened by `window`, holds it (the nearest; late news as in rule 4: it stays
   resolved, even after an operator's resolution it happened after, which only the key's latest incident reopens), else
   it correlates into or opens an incident of its own; the key's latest incident stays the later one. So a
   late burst (a backfill, a slow source) or a replayed stream gives one incident per episode, not one per event.

Resolved by the sweep, by the next event or by an operator (POST /incidents/{id}/resolve, which sets
`resolved_at` to the moment of the click): rules 3 and 4 read only `status` and `resolved_at`, so a
manual resolution is treated like any other. An event after it reopens the incident within `reopen`
(the fix did not hold), an event from before it does not undo it. An incident an operator reopened
(POST /incidents/{id}/reopen) stays open for `held` after that, whatever its last event: the sweep resolves it
only then, and no earlier than the reopening; events decide alike (rule 2), so they join it until then.

Across signals (incidents/correlation.py): a signal that would open an incident first looks for an incident
it is related to on the topology graph (same host, a service running on its host, a dependency) and whose
time span, widened by `correlate` (INCIDENT_CORRELATION_WINDOW_S) on both sides, holds the signal's time.
It joins the best such incident; the evidence row of its key records the rule and `via`. The incident may
have been resolved meanwhile (a log burst goes quiet within seconds, while the alerts and errors of the same
fault arrive over minutes): the signal joins that episode all the same, reopening it when it comes after the
resolution (late news when not) — unless the incident holds the signal's own key, which is that key firing
again after the episode ended (rule 3).
An operator's split (IncidentSplit) forbids merging the split key with the keys it was split from until
the split's `until`. An event more than `window` before its key's incident began is not joined to it (rule 5).
The candidate incidents are indexed (incidents/candidates.py), so a signal is compared only with those its rules can
reach and whose span meets its time, with the same result as comparing it with every open candidate.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from aiops_contracts.db import Incident
from aiops_contracts.events import (
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    IncidentStatus,
    Severity,
    TimelineKind,
)
from aiops_worker.incidents.candidates import Candidates
from aiops_worker.incidents.correlation import RULES, Onset, Side, Topology, origin, reach, relate
from aiops_worker.incidents.signals import EntryKey, Signal
from aiops_worker.logs.rules import RANK

MAX_LISTED = 50  # hosts and services listed per incident
MAX_TEMPLATES = 20  # template ids listed per incident


@dataclass(frozen=True)
class Policy:
    window: timedelta
    reopen: timedelta
    sample_limit: int
    correlate: timedelta = timedelta(0)  # 0: no cross-signal correlation (each key on its own)
    # The task's group keys: its sweep resolves the incidents holding one (rule 2); None: no sweep is known to
    # resolve them (the replay sweeps in event time before each event, its own way).
    key_prefix: str | None = None
    sweeps_mixed: bool = True  # whether its sweep resolves incidents holding other tasks' keys too
    held: timedelta = timedelta(0)  # how long the sweep keeps an incident open after an operator reopened it


@dataclass
class Known:
    """What the aggregation reads and updates: the latest incident of each key, the incidents a signal may
    correlate with, their evidence (incident id -> (key, signal kind, source) -> entry), the topology and the
    operators' splits (key -> [(keys it must not join, until)])."""

    latest: dict[str, Incident]
    candidates: Candidates = field(default_factory=Candidates)
    evidence: dict[uuid.UUID, dict[EntryKey, dict[str, Any]]] = field(default_factory=dict)
    topology: Topology = field(default_factory=Topology)
    splits: dict[str, list[tuple[frozenset[str], datetime]]] = field(default_factory=dict)
    # An operator's latest reopening (its time) of the keys' latest incidents that are still unresolved.
    reopened: dict[uuid.UUID, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Index the keys each candidate's evidence holds."""
        for incident_id, entries in self.evidence.items():
            for key, *_ in entries:
                self.candidates.hold(incident_id, key)


class Action(Enum):
    JOIN = "join"
    REOPEN = "reopen"
    OPEN = "open"
    BEFORE = "before"  # rule 5: an earlier episode


def decide(incident: Incident | None, at: datetime, policy: Policy, recurring: bool = True,
           reopened: datetime | None = None) -> Action:
    """What an event at `at` does to its key's latest incident; `recurring`: the event is the same thing
    firing again (rule 3), so it may reopen the incident; `reopened`: when an operator last reopened it (still
    unresolved), which the sweep honours: it keeps the incident open for `policy.held` after that."""
    if incident is None:
        return Action.OPEN
    if at < incident.first_seen_at - policy.window:
        return Action.BEFORE
    if incident.status != IncidentStatus.resolved:
        if at <= incident.last_seen_at + policy.window or (reopened is not None and at <= reopened + policy.held):
            return Action.JOIN
        resolved_at = quiet_end(incident, policy.window, reopened)
    else:
        resolved_at = incident.resolved_at
        if resolved_at is None:
            return Action.OPEN
        if at <= resolved_at:
            return Action.JOIN  # rule 4: counted in the resolved incident, not a reopening
    return Action.REOPEN if recurring and at - resolved_at <= policy.reopen else Action.OPEN


def quiet_end(incident: Incident, window: timedelta, reopened: datetime | None) -> datetime:
    """When the sweep resolves an incident that went quiet (store.resolve_quiet): `window` after its last event,
    but not before an operator's reopening."""
    end = incident.last_seen_at + window
    return max(end, reopened) if reopened is not None else end


class Aggregation:
    """Applies one batch of signals (sorted by time) to the known incidents."""

    def __init__(self, policy: Policy, known: Known) -> None:
        self.policy = policy
        self.known = known
        self.latest = known.latest
        self.created: list[Incident] = []
        self.opened: set[uuid.UUID] = set()  # the ids of `created`
        self.reopened: set[uuid.UUID] = set()
        self.changed: dict[uuid.UUID, tuple[Incident, str]] = {}  # id -> (incident, last envelope changing it)
        self.timeline: dict[tuple[uuid.UUID, TimelineKind, str], dict[str, Any]] = {}
        self.touched: set[tuple[uuid.UUID, EntryKey]] = set()  # evidence entries changed
        self.learned: set[tuple[str, str]] = set()  # (service, host) seen together for the first time

    def add(self, signal: Signal) -> Incident:
        """Apply one signal; returns the incident it joined."""
        if signal.host and signal.service and self.known.topology.add_runs_on(signal.service, signal.host):
            self.learned.add((signal.service, signal.host))
        incident = self.latest.get(signal.key)
        recurring = incident is not None and self._recurring(incident, signal)
        reopened = self.known.reopened.get(incident.id) if incident is not None and self.known.reopened else None
        action = decide(incident, signal.at, self.policy, recurring, reopened)
        rule, via = "same_key", signal.key
        if action is Action.REOPEN:
            assert incident is not None
            self._reopen(incident, signal)
        elif action in (Action.OPEN, Action.BEFORE):
            previous = incident
            if action is Action.OPEN and previous is not None and previous.status != IncidentStatus.resolved \
                    and self._swept(previous):  # rule 2: as the sweep would have by now, before correlating
                self._resolve(previous, signal.envelope_id)
            episode = self._episode(signal) if action is Action.BEFORE else None
            found = episode or self._correlate(signal)
            if action is Action.OPEN and previous is not None and previous.status != IncidentStatus.resolved \
                    and (found is None or found[0] is not previous):
                self._resolve(previous, signal.envelope_id)
            if found is None:
                incident, rule, via = self._open(signal, latest=action is Action.OPEN or previous is None), "opened", ""
            else:
                incident, rule, via = found
                if episode is None and incident.status == IncidentStatus.resolved and incident.resolved_at \
                        and signal.at > incident.resolved_at:  # (an earlier episode of its key: late news, rule 5)
                    self._reopen(incident, signal)
                if action is Action.OPEN:
                    self.latest[signal.key] = incident
        assert incident is not None
        self._join(incident, signal, rule, via)
        return incident

    def _recurring(self, incident: Incident, signal: Signal) -> bool:
        """Whether the signal's key is all its incident holds (rule 3: only such an incident reopens)."""
        return all(key == signal.key for key, *_ in self.known.evidence.get(incident.id, {}))

    def _swept(self, incident: Incident) -> bool:
        """Whether this task's sweep resolves the incident (store.resolve_quiet): it holds a key of the task (the
        key's latest incident does) and, unless the task sweeps mixed incidents, no other task's."""
        prefix = self.policy.key_prefix
        if prefix is None:
            return False
        return self.policy.sweeps_mixed or all(key.startswith(prefix) for key, *_ in self.known.evidence.get(incident.id, {}))

    def _holds(self, incident: Incident, signal: Signal) -> bool:
        return any(key == signal.key for key, *_ in self.known.evidence.get(incident.id, {}))

    def _episode(self, signal: Signal) -> tuple[Incident, str, str] | None:
        """The earlier incident of the signal's key whose span, widened by `window`, holds its time (the nearest),
        or None (rule 5)."""
        window = self.policy.window
        episodes = self.known.candidates.holding(signal.key, signal.at - window, signal.at + window)
        nearest = min(episodes, key=lambda incident: _distance(incident, signal.at), default=None)
        return None if nearest is None else (nearest, "same_key", signal.key)

    def _correlate(self, signal: Signal) -> tuple[Incident, str, str] | None:
        """The incident the signal is related to (best rule, then nearest in time), or None; a resolved one only
        when it does not hold the signal's key (see the module docstring)."""
        if not self.policy.correlate:
            return None
        side = Side(frozenset([signal.host] if signal.host else ()), frozenset([signal.service] if signal.service else ()))
        best: tuple[tuple[int, float], Incident, str, str] | None = None
        # Its time span widened by `correlate` holds the signal's time, i.e. meets the signal's time widened.
        earliest, latest = signal.at - self.policy.correlate, signal.at + self.policy.correlate
        for incident in self.known.candidates.listing(reach(self.known.topology, side), earliest, latest):
            if incident.status == IncidentStatus.resolved and self._holds(incident, signal):
                continue
            found = relate(self.known.topology, side, Side(frozenset(incident.hosts), frozenset(incident.services)))
            if found is None or self._forbidden(signal, incident):
                continue
            rank = (RULES.index(found[0]), _distance(incident, signal.at).total_seconds())
            if best is None or rank < best[0]:
                best = (rank, incident, *found)
        return best[1:] if best else None

    def _forbidden(self, signal: Signal, incident: Incident) -> bool:
        splits = self.known.splits.get(signal.key)
        if not splits:  # the common case: no set of the incident's keys to build
            return False
        keys = {key for key, *_ in self.known.evidence.get(incident.id, {})}
        return any(until > signal.at and others & keys for others, until in splits)

    def settle(self) -> list[dict[str, Any]]:
        """The evidence rows changed by the batch; marks each changed incident's probable origin."""
        for incident, _ in self.changed.values():
            entries = self.known.evidence.get(incident.id, {}).values()
            found = origin(self.known.topology, [Onset((e["group_key"], e["kind"]), e["first_seen_at"], e["host"],
                                                       e["service"]) for e in entries])
            if found and (incident.details.get("origin"), incident.details.get("origin_kind")) != found:
                incident.details = {**incident.details, "origin": found[0], "origin_kind": found[1]}
        return [self.known.evidence[incident_id][entry] for incident_id, entry in sorted(self.touched, key=str)]

    def _open(self, signal: Signal, latest: bool) -> Incident:
        incident = Incident(
            id=uuid.uuid4(), group_key=signal.key, title=signal.title, summary="", severity=signal.severity.value,
            status=IncidentStatus.open, event_count=0, hosts=[], services=[], first_seen_at=signal.at, last_seen_at=signal.at,
            details={**signal.facts, "samples": [], "template_ids": [], "reopen_count": 0},
        )
        self.created.append(incident)
        self.opened.add(incident.id)
        self.known.candidates.add(incident)
        if latest:
            self.latest[signal.key] = incident
        self._mark(incident, signal.envelope_id)
        self._note(incident, TimelineKind.opened, signal, signal.at)
        return incident

    def _reopen(self, incident: Incident, signal: Signal) -> None:
        if incident.status != IncidentStatus.resolved:
            self._resolve(incident, signal.envelope_id)
        incident.status = IncidentStatus.open
        incident.resolved_at = None
        incident.details = {**incident.details, "reopen_count": incident.details.get("reopen_count", 0) + 1}
        self.reopened.add(incident.id)
        self.known.candidates.index(incident)
        self._mark(incident, signal.envelope_id)
        self._note(incident, TimelineKind.reopened, signal, signal.at)

    def resolve_quiet(self, incident: Incident) -> None:
        """Resolve a quiet incident as the periodic sweep (store.resolve_quiet) would: for replays, in event time."""
        self._resolve(incident, "sweep")

    def _resolve(self, incident: Incident, envelope_id: str) -> None:
        incident.status = IncidentStatus.resolved
        incident.resolved_at = quiet_end(incident, self.policy.window, self.known.reopened.pop(incident.id, None))
        self._mark(incident, envelope_id)
        key = (incident.id, TimelineKind.resolved, envelope_id)
        self.timeline[key] = {"incident_id": incident.id, "event_id": envelope_id, "at": incident.resolved_at,
                              "kind": TimelineKind.resolved, "count": 0, "host": None, "template_id": None,
                              "message": ""}

    def _join(self, incident: Incident, signal: Signal, rule: str, via: str) -> None:
        self._add_evidence(incident, signal, rule, via)
        incident.event_count += 1
        if signal.at < incident.first_seen_at:  # (set only when it moves: a set is costly on a mapped object)
            incident.first_seen_at = signal.at
        if signal.at > incident.last_seen_at:
            incident.last_seen_at = signal.at
        if RANK[signal.severity] > RANK[Severity(incident.severity)]:
            incident.severity = signal.severity.value
        _add_listed(incident, "hosts", signal.host)
        _add_listed(incident, "services", signal.service)
        self.known.candidates.index(incident)
        self._add_details(incident, signal)
        self._mark(incident, signal.envelope_id)
        row = self._note(incident, TimelineKind.events, signal, signal.at)
        row["count"] += 1

    def _add_evidence(self, incident: Incident, signal: Signal, rule: str, via: str) -> None:
        entries = self.known.evidence.setdefault(incident.id, {})
        entry = entries.get(signal.entry)
        if entry is None:
            self.known.candidates.hold(incident.id, signal.key)
            entry = entries[signal.entry] = {
                "incident_id": incident.id, "group_key": signal.key, "kind": signal.kind, "source": signal.source,
                "title": signal.title[:500],
                "host": signal.host, "service": signal.service, "template_id": signal.template_id, "score": None,
                "count": 0, "first_seen_at": signal.at, "last_seen_at": signal.at, "rule": rule, "via": via[:500]}
        entry["count"] += 1
        entry["first_seen_at"] = min(entry["first_seen_at"], signal.at)
        entry["last_seen_at"] = max(entry["last_seen_at"], signal.at)
        if signal.score is not None:
            entry["score"] = max(entry["score"] or signal.score, signal.score)
        self.touched.add((incident.id, signal.entry))

    def _add_details(self, incident: Incident, signal: Signal) -> None:
        details = incident.details
        samples, templates = details.get("samples", []), details.get("template_ids", [])
        add_sample = len(samples) < self.policy.sample_limit
        add_template = signal.template_id and signal.template_id not in templates and len(templates) < MAX_TEMPLATES
        if add_sample or add_template:
            sample = {"at": signal.at.isoformat(), "host": signal.host, "message": signal.message[:2000],
                      "template_id": signal.template_id}
            incident.details = {**details, "samples": samples + [sample] if add_sample else samples,
                                "template_ids": templates + [signal.template_id] if add_template else templates}

    def _mark(self, incident: Incident, envelope_id: str) -> None:
        self.changed[incident.id] = (incident, envelope_id)

    def change_of(self, incident: Incident) -> tuple[str, bool]:
        """What to announce for a changed incident, from its final state: (event type, reopened)."""
        if incident.status == IncidentStatus.resolved:
            return INCIDENT_RESOLVED, False
        if incident.id in self.opened or incident.id in self.reopened:
            return INCIDENT_OPENED, incident.id in self.reopened
        return INCIDENT_UPDATED, False

    def _note(self, incident: Incident, kind: TimelineKind, signal: Signal, at: datetime) -> dict[str, Any]:
        key = (incident.id, kind, signal.envelope_id)
        row = self.timeline.get(key)
        if row is None:
            row = self.timeline[key] = {"incident_id": incident.id, "event_id": signal.envelope_id, "at": at,
                                        "kind": kind, "count": 0, "host": signal.host,
                                        "template_id": signal.template_id, "message": signal.message[:2000]}
        row["at"] = max(row["at"], at)
        return row


def _distance(incident: Incident, at: datetime) -> timedelta:
    """How far `at` is from the incident's span (0 within it)."""
    return max(incident.first_seen_at - at, at - incident.last_seen_at, timedelta(0))


def _add_listed(incident: Incident, attribute: str, value: str | None) -> None:
    listed = getattr(incident, attribute)
    if value and value not in listed and len(listed) < MAX_LISTED:
        setattr(incident, attribute, [*listed, value])
