"""What a replay reads: the archived alerts and log lines of the range, InfluxDB's metric points of the range (and,
from a snapshot, of the warm-up before it), its starting state (replay/start.py), the stored topology and enabled
automation rules, and what did happen (`Did`): the incidents the range's events
joined (their timelines), and the automation runs started in the range. Reads only; bounded by `limit`."""

import asyncio
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import AutomationRun, Incident, IncidentEvent
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import TimelineKind
from aiops_contracts.influx import IDENTIFIER, InfluxClient, answer_chunks, quote_ident
from aiops_contracts.replay import ReplayParams, StartingState
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED
from aiops_worker.anomalies.series import MetricPoint, SeriesRef
from aiops_worker.archive.store import Archive, read
from aiops_worker.incidents import store
from aiops_worker.replay.engine import Inputs
from aiops_worker.replay.start import load_start
from aiops_worker.settings import WorkerSettings

OWN_MEASUREMENTS = "aiops_"  # the platform's own series (anomaly scores, forecasts) are not replayed
ANSWER_CHUNK_ROWS = 10_000  # rows of an answer parsed at once (InfluxDB's own default chunk): ~20 ms of the GIL


@dataclass
class Did:
    members: dict[uuid.UUID, set[str]] = field(default_factory=lambda: defaultdict(set))  # incident -> envelope ids
    incidents: dict[uuid.UUID, Incident] = field(default_factory=dict)
    automations: list[tuple[str, str]] = field(default_factory=list)  # (rule, trigger key)


async def load_inputs(archive: Archive, influx: InfluxClient, session: AsyncSession, params: ReplayParams,
                      settings: WorkerSettings) -> tuple[Inputs, bool]:
    """The replay's inputs, and whether REPLAY_MAX_EVENTS (alert envelopes, log lines, points and warm-up points
    together) cut them."""
    start, end, limit = params.start, params.end, settings.replay_max_events
    alerts, cut_alerts = await read(archive, ALERTS_INGESTED.name, start, end, limit)
    logs, cut_logs = await read(archive, LOGS_INGESTED.name, start, end, limit - len(alerts), weight=_lines)
    left = limit - len(alerts) - sum(map(_lines, logs))
    points, cut_points = await metric_points(influx, start, end, left) if params.metrics else ([], False)
    correlate = params.changes.incident_correlation_window_s
    horizon = max(settings.incident_reopen_s, settings.incident_correlation_window_s if correlate is None else correlate)
    state = await load_start(session, params.starting_state, start, timedelta(seconds=horizon))
    cut_warmup = False
    if params.metrics and params.starting_state is StartingState.snapshot:
        warmup = timedelta(seconds=settings.replay_warmup_s)
        state.warmup, cut_warmup = await metric_points(influx, start - warmup, start, left - len(points))
    inputs = Inputs(alerts=alerts, logs=logs, points=points, topology=await store.load_topology(session),
                    metrics=params.metrics, start=state)
    return inputs, cut_alerts or cut_logs or cut_points or cut_warmup


def _lines(envelope: Envelope) -> int:
    """A log envelope's weight against the event limit: its lines."""
    return len(envelope.payload.get("records", []))


async def metric_points(influx: InfluxClient, start: datetime, end: datetime, limit: int) -> tuple[list[MetricPoint], bool]:
    """Every numeric field of every measurement in [start, end), as the live task sees them, at most `limit`.
    At most `limit` + 1 rows are read in all: one LIMIT per measurement (no GROUP BY, whose LIMIT is per series)
    of what the ones before left; points are made until there is one more than `limit`. The answers are parsed,
    made into points and sorted in threads (seconds of CPU at a REPLAY_MAX_EVENTS of 200,000): the event loop
    only sends the queries. An answer comes in chunks of ANSWER_CHUNK_ROWS rows, parsed one at a time: the loop
    runs between them (a parse keeps the GIL)."""
    points: list[MetricPoint] = []
    shown = await influx.query("SHOW MEASUREMENTS")
    names = [row[0] for series in shown for row in series.values
             if not row[0].startswith(OWN_MEASUREMENTS) and IDENTIFIER.fullmatch(row[0])]
    params = {"start": _rfc3339(start), "end": _rfc3339(end)}
    rows_left = limit + 1
    for name in names:
        if rows_left <= 0 or len(points) > limit:
            break
        # InfluxQL cannot bind identifiers: the name passed quote_ident; the times are bound, the limit an int.
        tag_keys = {row[0] for series in await influx.query(f"SHOW TAG KEYS FROM {quote_ident(name)}")
                    for row in series.values}
        query = f"SELECT * FROM {quote_ident(name)} WHERE time >= $start AND time < $end LIMIT {rows_left}"
        answer = await influx.query_answer(query, params, epoch="ns", chunk_rows=ANSWER_CHUNK_ROWS)
        found, rows = await asyncio.to_thread(_answer_points, name, tag_keys, answer, limit + 1 - len(points))
        points += found
        rows_left -= rows
    points = await asyncio.to_thread(sorted, points, key=lambda p: p.time_ns)  # (each answer's are in time order)
    return points[:max(limit, 0)], len(points) > limit or rows_left <= 0


def _answer_points(name: str, tag_keys: set[str], answer: bytes, most: int) -> tuple[list[MetricPoint], int]:
    """The points of a SELECT * answer, `most` at most (give or take a row's), and how many rows it held."""
    points: list[MetricPoint] = []
    rows = 0
    for series_list in answer_chunks(answer):
        for series in series_list:
            rows += len(series.values)
            for values in series.values:
                if len(points) >= most:
                    break
                points.extend(_row_points(name, tag_keys, dict(zip(series.columns, values))))
    return points, rows


def _row_points(name: str, tag_keys: set[str], row: dict[str, Any]) -> list[MetricPoint]:
    """A row of SELECT * (time, tags and fields as columns): a point per numeric field, of its series."""
    time_ns = int(row.pop("time"))
    tags = tuple(sorted((key, value) for key, value in row.items() if key in tag_keys and value))
    return [MetricPoint(SeriesRef(name, tags, key), time_ns, float(value)) for key, value in row.items()
            if key not in tag_keys and isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value)]


async def what_did(session: AsyncSession, start: datetime, end: datetime) -> Did:
    did = Did()
    rows = await session.execute(select(IncidentEvent.incident_id, IncidentEvent.event_id).where(
        IncidentEvent.kind == TimelineKind.events, IncidentEvent.at >= start, IncidentEvent.at < end,
        IncidentEvent.event_id.is_not(None)))
    for incident_id, event_id in rows:
        did.members[incident_id].add(event_id)
    if did.members:
        did.incidents = {i.id: i for i in await session.scalars(select(Incident).where(Incident.id.in_(did.members)))}
    did.automations = [(rule, key) for rule, key in await session.execute(
        select(AutomationRun.rule_name, AutomationRun.trigger_key).where(AutomationRun.created_at >= start,
                                                                         AutomationRun.created_at < end))]
    return did


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
