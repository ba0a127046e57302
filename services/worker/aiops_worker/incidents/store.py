"""PostgreSQL side of the aggregator. The correlation lock, then the keys (transaction advisory locks, in
key order) are locked before their latest incidents are read, so two workers never open two incidents for
one key, nor two incidents for two related signals."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, String, Table, Uuid, any_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, Insert, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Incident, IncidentEvent, IncidentSignal, IncidentSplit, TopologyEdge
from aiops_contracts.events import INCIDENT_RESOLVED, IncidentStatus, TimelineKind
from aiops_contracts.topology import CORRELATION_LOCK, DEPENDS_ON, RUNS_ON
from aiops_worker.incidents.aggregator import Known, Policy
from aiops_worker.incidents.candidates import Candidates
from aiops_worker.incidents.correlation import Topology
from aiops_worker.incidents.signals import EntryKey, Signal, entry_key
from aiops_worker.runtime.bulk import rows_param, rows_select

LEARNING_LOCK = "topology:learning"  # taken by every writer of learned edges: counting and adding is one step
_HELD_RUNS_ON = text("SELECT source, target FROM topology_edges "
                     "JOIN unnest(CAST(:sources AS text[]), CAST(:targets AS text[])) AS edge(source, target) "
                     "USING (source, target) WHERE kind = :kind")
MAX_CANDIDATES = 1000  # incidents a batch is compared with: unresolved ones first, then the latest seen
EVIDENCE_COLUMNS = ("incident_id", "group_key", "kind", "source", "title", "host", "service", "template_id", "score", "count",
                    "first_seen_at", "last_seen_at", "rule", "via")
# What an incident the aggregation opened is inserted with (created_at and updated_at: the server's now()).
INCIDENT_COLUMNS = tuple(c.key for c in Incident.__table__.columns if c.key not in ("created_at", "updated_at"))


def _any(name: str, values: Any, item_type: Any) -> Any:
    """`= ANY(:name)`: the values as one array parameter, whatever their number (a statement of the same text)."""
    return any_(bindparam(name, list(values), type_=ARRAY(item_type)))


def _latest_of_keys(*columns: Any) -> Select[Any]:
    """(group key, *columns of its latest incident) for each key of the `keys` parameter: the incident holding the
    key's evidence that began last. Built once: building it cost more CPU than running it, at each batch."""
    return (select(IncidentSignal.group_key, *columns)
            .join(Incident, Incident.id == IncidentSignal.incident_id)
            .where(IncidentSignal.group_key == any_(bindparam("keys", type_=ARRAY(String))))
            .ext(distinct_on(IncidentSignal.group_key))
            .order_by(IncidentSignal.group_key, Incident.first_seen_at.desc(), Incident.id))


_LATEST = _latest_of_keys(Incident.id, Incident.status, Incident.first_seen_at, Incident.last_seen_at, Incident.resolved_at)
_LATEST_IDS = _latest_of_keys(IncidentSignal.incident_id)


async def latest_incidents(session: AsyncSession, keys: set[str]) -> dict[str, Row[Any]]:
    """The latest incident of each key as `aggregator.decide` reads it (id, status, times), without locks: what
    the alert store guesses a new alert's incident from (the incident task decides under its locks)."""
    if not keys:
        return {}
    return {row.group_key: row for row in await session.execute(_LATEST, {"keys": list(keys)})}


async def lock_latest(session: AsyncSession, keys: set[str]) -> dict[str, Incident]:
    """Lock the group keys and return the latest incident holding each key's evidence (rows locked too)."""
    if not keys:
        return {}
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                               "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"), {"keys": sorted(keys)})
    pairs = (await session.execute(_LATEST_IDS, {"keys": list(keys)})).all()
    rows = await session.scalars(select(Incident).where(Incident.id == _any("ids", {p.incident_id for p in pairs}, Uuid))
                                 .order_by(Incident.id).with_for_update())
    incidents = {incident.id: incident for incident in rows}
    return {key: incidents[incident_id] for key, incident_id in pairs}


# The incidents within reach of a batch's times, locked, in the order they become candidates (unresolved first).
_CANDIDATE_IDS = (select(Incident.id)
                  .where(Incident.last_seen_at >= bindparam("start"), Incident.first_seen_at <= bindparam("end"))
                  .order_by(Incident.status == IncidentStatus.resolved, Incident.last_seen_at.desc(), Incident.id)
                  .limit(bindparam("limit")).with_for_update())


async def _incidents(session: AsyncSession, ids: Sequence[uuid.UUID],
                     loaded: dict[uuid.UUID, Incident]) -> dict[uuid.UUID, Incident]:
    """The incidents of `ids` in their order, those not `loaded` yet read (not read again: the keys' latest
    incidents are most of a batch's candidates, and their JSONB details were half the time of loading them)."""
    if missing := [i for i in ids if i not in loaded]:
        read = await session.scalars(select(Incident).where(Incident.id == _any("ids", missing, Uuid)))
        loaded = {**loaded, **{i.id: i for i in read}}
    return {i: loaded[i] for i in ids}


async def load_known(session: AsyncSession, signals: list[Signal], policy: Policy) -> Known:
    """Everything the aggregation of `signals` reads, locked: one correlation lock (the worker's tasks and
    an operator's split take it first), the keys' latest incidents, the incidents (open or resolved) within
    `correlate` of the signals, the earlier episodes of late signals' keys, their evidence, the topology and
    the splits still in force."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": CORRELATION_LOCK})
    latest = await lock_latest(session, {s.key for s in signals})
    candidates = {i.id: i for i in latest.values()}
    if policy.correlate and signals:
        correlate = policy.correlate
        start, end = min(s.at for s in signals) - correlate, max(s.at for s in signals) + correlate
        ids = (await session.scalars(_CANDIDATE_IDS, {"start": start, "end": end, "limit": MAX_CANDIDATES})).all()
        candidates.update(await _incidents(session, ids, candidates))
    if late := [s for s in signals if s.key in latest and s.at < latest[s.key].first_seen_at - policy.window]:
        candidates.update({i.id: i for i in await load_episodes(session, late, policy.window)})
    evidence: dict[uuid.UUID, dict[EntryKey, dict[str, Any]]] = {}
    columns = [IncidentSignal.__table__.c[c] for c in EVIDENCE_COLUMNS]
    held = IncidentSignal.incident_id == _any("ids", list(candidates), Uuid)
    for row in await session.execute(select(*columns).where(held)):
        entry = row._asdict()
        evidence.setdefault(entry["incident_id"], {})[entry_key(entry)] = entry
    since = min((s.at for s in signals), default=None)
    return Known(latest=latest, candidates=Candidates(candidates.values()), evidence=evidence, topology=await load_topology(session),
                 splits=await load_splits(session, since) if since else {},
                 reopened=await load_reopened(session, signals, latest, policy.window))


async def load_reopened(session: AsyncSession, signals: list[Signal], latest: dict[str, Incident],
                        window: timedelta) -> dict[uuid.UUID, datetime]:
    """When an operator last reopened (a `reopened` timeline row without event, as resolve_quiet reads it) the keys'
    latest incidents that a signal may find quiet (after their last event + `window`: aggregator.decide then needs
    it): unresolved ones ever reopened (`details.reopen_count`, which the API's reopening counts). Others need no
    query: a batch of events joining an open incident reads nothing more."""
    newest: dict[uuid.UUID, datetime] = {}
    for signal in signals:
        if (incident := latest.get(signal.key)) is not None:
            newest[incident.id] = max(newest.get(incident.id, signal.at), signal.at)
    ids = {i.id for i in latest.values() if i.status != IncidentStatus.resolved and i.details.get("reopen_count")
           and newest.get(i.id, i.last_seen_at) > i.last_seen_at + window}
    if not ids:
        return {}
    return dict((await session.execute(
        select(IncidentEvent.incident_id, func.max(IncidentEvent.at))
        .where(IncidentEvent.incident_id == _any("reopened", ids, Uuid), IncidentEvent.kind == TimelineKind.reopened,
               IncidentEvent.event_id.is_(None))
        .group_by(IncidentEvent.incident_id))).tuples().all())


async def load_episodes(session: AsyncSession, signals: list[Signal], window: timedelta) -> Sequence[Incident]:
    """The incidents (locked) holding the signals' keys whose span, widened by `window`, meets the signals' times:
    the earlier episodes that signals from before their key's latest incident may belong to (aggregator rule 5)."""
    keys = {s.key for s in signals}
    holding = select(IncidentSignal.incident_id).where(IncidentSignal.group_key == _any("late", keys, String))
    return (await session.scalars(
        select(Incident).where(Incident.id.in_(holding), Incident.last_seen_at >= min(s.at for s in signals) - window,
                               Incident.first_seen_at <= max(s.at for s in signals) + window)
        .order_by(Incident.last_seen_at.desc(), Incident.id).limit(MAX_CANDIDATES).with_for_update())).all()


async def load_topology(session: AsyncSession) -> Topology:
    topology = Topology()
    for kind, source, target in await session.execute(select(TopologyEdge.kind, TopologyEdge.source, TopologyEdge.target)):
        if kind == RUNS_ON:
            topology.add_runs_on(source, target)
        elif kind == DEPENDS_ON:
            topology.add_depends_on(source, target)
    return topology


async def load_splits(session: AsyncSession, since: datetime) -> dict[str, list[tuple[frozenset[str], datetime]]]:
    """The operators' splits in force after `since`, each key to the keys it must not join (both ways)."""
    splits: dict[str, list[tuple[frozenset[str], datetime]]] = {}
    for key, others, until in await session.execute(
            select(IncidentSplit.group_key, IncidentSplit.other_keys, IncidentSplit.until).where(IncidentSplit.until > since)):
        splits.setdefault(key, []).append((frozenset(others), until))
        for other in others:  # the other way round too
            splits.setdefault(other, []).append((frozenset([key]), until))
    return splits


def _insert_unnest(table: Table, columns: Sequence[str]) -> Insert:
    """INSERT of rows passed as one array per column (`unnest`): one short statement whatever their number
    (rows as VALUES would pass PostgreSQL's 65,535 bound parameters, and an executemany sends each row on
    its own). The arrays are cast to the columns' types, and a cast to VARCHAR(n) cuts a longer value without
    a word where a row's insert refuses it: the aggregator cuts what it writes to fit (names, titles, `via`)."""
    return insert(table).from_select(
        columns, select(*(func.unnest(bindparam(c, type_=ARRAY(table.c[c].type))) for c in columns)))


def _columns(rows: list[dict[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The rows as one list per column, for `_insert_unnest`: every row must hold every column (a column's
    default is not applied; a missing one is a KeyError)."""
    return {c: [row[c] for row in rows] for c in columns}


_ADD_EVIDENCE = _insert_unnest(IncidentSignal.__table__, EVIDENCE_COLUMNS)
_WRITE_EVIDENCE = _ADD_EVIDENCE.on_conflict_do_update(
    index_elements=["incident_id", "group_key", "kind", "source"],
    set_={c: _ADD_EVIDENCE.excluded[c] for c in ("count", "first_seen_at", "last_seen_at", "score")})
TIMELINE_COLUMNS = ("incident_id", "event_id", "at", "kind", "count", "host", "template_id", "message")
# A timeline row per envelope (an alert is one): they travel as one JSONB parameter encoded by orjson (runtime/bulk.py),
# where psycopg dumped eight arrays element by element in Python, a quarter of the alert incident task's CPU. Their
# values fit the columns (the aggregator cuts names; ids are ids of rows or envelopes, at most 64 characters).
_TIMELINE = [IncidentEvent.__table__.c[c] for c in TIMELINE_COLUMNS]
_ADD_TIMELINE = insert(IncidentEvent.__table__).from_select(list(TIMELINE_COLUMNS), rows_select(_TIMELINE))


async def add_incidents(session: AsyncSession, incidents: list[Incident]) -> None:
    """Insert the incidents the aggregation opened, as rows (an executemany: no object for the session to
    track, no value to read back; their JSONB lists do not travel as arrays)."""
    if incidents:
        await session.execute(insert(Incident.__table__), [{c: getattr(i, c) for c in INCIDENT_COLUMNS} for i in incidents])


async def write_evidence(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Upsert evidence rows (dicts of EVIDENCE_COLUMNS, one per incident and entry), in one statement."""
    if rows:
        await session.execute(_WRITE_EVIDENCE, _columns(rows, EVIDENCE_COLUMNS))


async def learn_runs_on(session: AsyncSession, edges: dict[tuple[str, str], dict[str, str]], *,
                        limit: int) -> set[tuple[str, str]]:
    """Record services seen running on hosts, with their labels (learned edges; a declared edge keeps its
    origin and its labels; a learned edge's labels are merged into its own, a newer value replacing an older one).
    The names come from clients, so the table holds at most `limit` learned edges: an edge it does not hold
    yet is added only while there is room, decided by one writer at a time. Returns the edges not stored."""
    if not edges:
        return set()
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": LEARNING_LOCK})
    pairs = sorted(edges)
    held = {(source, target) for source, target in await session.execute(
        _HELD_RUNS_ON, {"kind": RUNS_ON, "sources": [s for s, _ in pairs], "targets": [t for _, t in pairs]})}
    new = [pair for pair in pairs if pair not in held]
    refused: set[tuple[str, str]] = set()
    if new:
        learned = await session.scalar(select(func.count()).select_from(TopologyEdge)
                                       .where(TopologyEdge.origin == "learned"))
        refused = set(new[max(limit - (learned or 0), 0):])
    if rows := [{"kind": RUNS_ON, "source": service, "target": host, "origin": "learned", "labels": edges[service, host]}
                for service, host in pairs if (service, host) not in refused]:
        statement = insert(TopologyEdge)
        await session.execute(statement.on_conflict_do_update(
            index_elements=["kind", "source", "target"],
            set_={"last_seen_at": func.now(), "labels": TopologyEdge.labels.op("||")(statement.excluded.labels)},
            where=TopologyEdge.origin == "learned"), rows)
    return refused


async def add_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert timeline rows (dicts of TIMELINE_COLUMNS), in one statement."""
    if rows:
        await session.execute(_ADD_TIMELINE, rows_param(rows))


async def incidents_of_envelopes(session: AsyncSession, envelope_ids: list[str]) -> list[tuple[Incident, str, set[str]]]:
    """Incidents that envelopes handled before had changed, with the kinds of the timeline rows each envelope wrote
    there (to announce them again on a redelivery, as they were announced: `opened` and `reopened` say how)."""
    if not envelope_ids:
        return []
    rows = await session.execute(
        select(Incident, IncidentEvent.event_id, IncidentEvent.kind).join(IncidentEvent, IncidentEvent.incident_id == Incident.id)
        .where(IncidentEvent.event_id.in_(envelope_ids)).distinct())
    changed: dict[tuple[uuid.UUID, str], tuple[Incident, set[str]]] = {}
    for incident, envelope_id, kind in rows:
        changed.setdefault((incident.id, envelope_id), (incident, set()))[1].add(kind)
    return [(incident, envelope_id, kinds) for (_, envelope_id), (incident, kinds) in changed.items()]


async def link_alerts(session: AsyncSession, links: dict[str, uuid.UUID]) -> None:
    """Point alert rows (by id) at their incidents, in one statement; the links travel as one JSONB parameter
    (runtime/bulk.py: two arrays cost psycopg a microsecond an element to dump, and there is a link per alert)."""
    if links:
        await session.execute(
            text("UPDATE alerts SET incident_id = link.incident_id, updated_at = now() "
                 "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS link(alert_id uuid, incident_id uuid) "
                 "WHERE alerts.id = link.alert_id AND alerts.incident_id IS DISTINCT FROM link.incident_id"),
            rows_param([{"alert_id": alert, "incident_id": incident} for alert, incident in links.items()]))


async def resolve_quiet(session: AsyncSession, key_prefix: str, window: timedelta, *, mixed: bool,
                        held: timedelta) -> None:
    """Resolve the incidents holding a key starting with `key_prefix` without a new event for `window` (wall
    clock), each with a `resolved` timeline row waiting to be announced (aiops_contracts.incidents: the outbox).
    With `mixed` False, only incidents all of whose keys start with it (an incident that joined signals of several
    tasks is resolved by the task with the longer window). One an operator reopened (a `reopened` timeline row
    without event, announced or not) stays open for `held` after that, and is resolved no earlier than the
    reopening."""
    own = IncidentSignal.incident_id == Incident.id
    holds = select(IncidentSignal.id).where(own, IncidentSignal.group_key.startswith(key_prefix)).exists()
    foreign = select(IncidentSignal.id).where(own, ~IncidentSignal.group_key.startswith(key_prefix)).exists()
    reopened = (select(func.max(IncidentEvent.at))
                .where(IncidentEvent.incident_id == Incident.id, IncidentEvent.kind == TimelineKind.reopened,
                       IncidentEvent.event_id.is_(None)).scalar_subquery())
    resolved = list(await session.scalars(
        update(Incident)
        .where(Incident.status.in_((IncidentStatus.open, IncidentStatus.acknowledged)), holds,
               *(() if mixed else (~foreign,)), Incident.updated_at < func.now() - window,
               or_(reopened.is_(None), reopened < func.now() - held))
        .values(status=IncidentStatus.resolved,  # greatest() skips NULL: no manual reopening, no bound
                resolved_at=func.greatest(func.least(Incident.last_seen_at + window, func.now()), reopened),
                updated_at=func.now())
        .returning(Incident)))
    if resolved:
        await session.execute(insert(IncidentEvent.__table__), [
            {"incident_id": i.id, "event_id": None, "at": i.resolved_at, "kind": TimelineKind.resolved, "count": 0,
             "host": None, "template_id": None, "message": "", "announce": INCIDENT_RESOLVED} for i in resolved])
