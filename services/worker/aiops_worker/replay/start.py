"""The state a replay starts from (aiops_contracts.replay.StartingState), read and never written:

- fresh: an empty miner, cold detectors, no incidents;
- snapshot: the log miner's stored state cut to the templates first seen before the range's start, with those
  templates' prototypes (`log_templates`); the detectors fed the metric points of the REPLAY_WARMUP_S before the
  start (read with the range's, replay/inputs.py) before the range's; the incidents open at the start, and those
  resolved shortly before it that an event may still reopen or correlate into, as they were then (their timeline
  says whether they were open, their last event and count), with the evidence they held, as the aggregator's own.

Both start with the operators' splits in force (`incident_splits`), read by the live aggregator's own query. What a
snapshot cannot rewind keeps its later form: a template generalised, or an incident's hosts widened, after the start.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Incident, IncidentEvent, IncidentSignal, LogTemplate
from aiops_contracts.events import IncidentStatus, TimelineKind
from aiops_contracts.replay import StartingState
from aiops_worker.anomalies.series import MetricPoint
from aiops_worker.incidents import store
from aiops_worker.incidents.aggregator import Known
from aiops_worker.incidents.candidates import Candidates
from aiops_worker.incidents.correlation import Topology
from aiops_worker.incidents.signals import EntryKey, entry_key
from aiops_worker.logs import store as log_store
from aiops_worker.logs.mining import STATE_VERSION
from aiops_worker.logs.task import LogMiningTask

Splits = dict[str, list[tuple[frozenset[str], datetime]]]
Evidence = dict[uuid.UUID, dict[EntryKey, dict[str, Any]]]

DESCRIPTIONS = {
    StartingState.fresh: "fresh miner and detectors, no incidents, the stored topology and splits",
    StartingState.snapshot: "the miner's templates and prototypes known at the start, detectors warmed on the metrics "
                            "before it, the incidents open at the start or resolved shortly before it, the stored "
                            "topology and splits",
}


@dataclass
class Start:
    kind: StartingState
    splits: Splits
    miner_state: dict[str, Any] | None = None  # TemplateMiner.to_state(), cut to the templates known at the start
    prototype_of: dict[str, str | None] = field(default_factory=dict)  # template id -> prototype id
    warmup: list[MetricPoint] = field(default_factory=list)  # time order
    incidents: list[Incident] = field(default_factory=list)  # detached copies: the replay changes them
    evidence: Evidence = field(default_factory=dict)

    def known(self, topology: Topology) -> Known:
        """The aggregator's starting state; each key's latest incident chosen as store.lock_latest does."""
        by_id = {incident.id: incident for incident in self.incidents}
        latest: dict[str, Incident] = {}
        for incident_id, entries in self.evidence.items():
            for key, *_ in entries:
                held = latest.get(key)
                if held is None or by_id[incident_id].first_seen_at > held.first_seen_at:
                    latest[key] = by_id[incident_id]
        return Known(latest=latest, candidates=Candidates(self.incidents), evidence=self.evidence, topology=topology,
                     splits=self.splits)

    def stated(self) -> dict[str, Any]:
        """What the result says it started from."""
        return {"kind": self.kind.value, "description": DESCRIPTIONS[self.kind],
                "templates": len(self.miner_state["clusters"]) if self.miner_state else 0,
                "prototypes": len({p for p in self.prototype_of.values() if p}),
                "warmup_points": len(self.warmup),
                "incidents": sum(1 for i in self.incidents if i.status != IncidentStatus.resolved),
                "resolved_incidents": sum(1 for i in self.incidents if i.status == IncidentStatus.resolved)}


async def load_start(session: AsyncSession, kind: StartingState, start: datetime, horizon: timedelta) -> Start:
    """The starting state at `start`, but the warm-up points; `horizon`: how long before the start an incident
    resolved by then still matters (the longer of the reopen and correlation windows)."""
    splits = await store.load_splits(session, start)
    if kind is StartingState.fresh:
        return Start(kind, splits)
    prototype_of = {template: prototype for template, prototype in await session.execute(
        select(LogTemplate.id, LogTemplate.prototype_id).where(LogTemplate.first_seen_at < start))}
    miner_state = _miner_state_at(await log_store.load_miner_state(session, LogMiningTask.name), set(prototype_of))
    incidents, evidence = await incidents_at(session, start, horizon)
    return Start(kind, splits, miner_state, prototype_of, incidents=incidents, evidence=evidence)


def _miner_state_at(saved: str | None, known: set[str]) -> dict[str, Any] | None:
    """The stored miner state (JSON text) without the templates first seen later; None for none or an older
    format."""
    state = orjson.loads(saved) if saved is not None else None
    if state is None or state.get("version") != STATE_VERSION:
        return None
    return {**state, "clusters": [c for c in state["clusters"] if c["cluster_id"] in known],
            "aliases": {old: new for old, new in state["aliases"].items() if old in known and new in known}}


async def incidents_at(session: AsyncSession, at: datetime, horizon: timedelta) -> tuple[list[Incident], Evidence]:
    """The incidents as they were at `at`: those open then (no resolution on the timeline before `at`, or a later
    reopening) and those resolved by then whose last event is within `horizon` before it (an event in the range
    may still reopen them, or correlate into them); at most store.MAX_CANDIDATES, as a live batch loads. Each
    with its last event before `at` as last seen, and the evidence it held then."""
    timeline = (
        select(IncidentEvent.incident_id,
               func.max(IncidentEvent.at).filter(IncidentEvent.kind == TimelineKind.events).label("last_event"),
               func.coalesce(func.sum(IncidentEvent.count).filter(IncidentEvent.kind == TimelineKind.events), 0)
               .label("events"),
               func.max(IncidentEvent.at).filter(IncidentEvent.kind == TimelineKind.resolved).label("resolved"),
               func.max(IncidentEvent.at).filter(IncidentEvent.kind == TimelineKind.reopened).label("reopened"))
        .join(Incident, Incident.id == IncidentEvent.incident_id)
        .where(IncidentEvent.at < at, Incident.first_seen_at < at,
               or_(Incident.resolved_at.is_(None), Incident.resolved_at > at, Incident.last_seen_at >= at - horizon))
        .group_by(IncidentEvent.incident_id).subquery())
    open_then = or_(timeline.c.resolved.is_(None), timeline.c.reopened >= timeline.c.resolved)
    rows = await session.execute(
        select(*Incident.__table__.columns, timeline.c.last_event, timeline.c.events, timeline.c.resolved,
               open_then.label("open_then"))
        .join(timeline, timeline.c.incident_id == Incident.id)
        .where(timeline.c.last_event.is_not(None), or_(open_then, timeline.c.last_event >= at - horizon))
        .order_by(Incident.id).limit(store.MAX_CANDIDATES))
    incidents = []
    for row in rows:
        # A new, detached object (Core row, not an ORM instance): nothing the replay changes can be flushed.
        columns = {c.key: row._mapping[c] for c in Incident.__table__.columns}
        status, resolved_at = (IncidentStatus.open, None) if row.open_then else (IncidentStatus.resolved, row.resolved)
        incidents.append(Incident(**{**columns, "status": status, "resolved_at": resolved_at,
                                     "last_seen_at": row.last_event, "event_count": int(row.events)}))
    return incidents, await _evidence_at(session, {i.id: i.last_seen_at for i in incidents}, at)


async def _evidence_at(session: AsyncSession, last_seen: dict[uuid.UUID, datetime], at: datetime) -> Evidence:
    evidence: Evidence = {}
    if last_seen:
        for row in (await session.execute(
                select(*(getattr(IncidentSignal, c) for c in store.EVIDENCE_COLUMNS))
                .where(IncidentSignal.incident_id.in_(last_seen), IncidentSignal.first_seen_at < at))).mappings():
            entry = {**row, "last_seen_at": min(row["last_seen_at"], last_seen[row["incident_id"]])}
            evidence.setdefault(row["incident_id"], {})[entry_key(entry)] = entry
    return evidence
