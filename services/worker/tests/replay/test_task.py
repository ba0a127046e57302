"""Dry-run replays on real Redis, PostgreSQL and InfluxDB: events go through the live tasks (archive, alert store,
log mining, incidents), then the replay task replays the archive with candidate settings and compares. The same
settings give no difference; candidate windows, log rules, anomaly thresholds and automation rules do; a snapshot
starts from the templates, open incidents and metric history before the range, a fresh start from nothing; the
replay resolves quiet incidents as the live sweep does; nothing outside the run's row changes."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from redis.asyncio import Redis
from sqlalchemy import func, select, text

from aiops_contracts.bus import Bus
from aiops_contracts.db import Incident, ReplayRun, metadata
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import (
    ALERT_RECEIVED,
    ANOMALY_SOURCE,
    LOGS_RECEIVED,
    AlertPayload,
    IncidentStatus,
    LogRecord,
    LogsPayload,
)
from aiops_contracts.replay import REPLAY_REQUESTED, ReplayParams, ReplayRequestedPayload, ReplayStatus
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED
from aiops_contracts.streams import REPLAY_REQUESTED as REPLAY_STREAM
from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.archive.task import AlertArchiveTask, LogArchiveTask
from aiops_worker.incidents.task import AlertIncidentTask, LogIncidentTask
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.replay.task import ReplayTask
from aiops_worker.runtime.context import WorkerContext
from conftest import until

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
METRICS_START_S = (int(datetime.now(UTC).timestamp()) // 3600 - 20 * 24) * 3600  # within retention
RULE = {"name": "page-db", "trigger": {"events": ["incident.opened"], "hosts": ["db-*"]},
        "action": {"kind": "webhook", "url": "https://hooks.example.com/page"}}


def alert(n: int, host: str = "db-1") -> Envelope:
    at = T0 + timedelta(seconds=120 * n)
    payload = AlertPayload(fingerprint=f"conn-{n}", title="OperationalError: connection refused", host=host,
                           severity="high", occurred_at=at)
    return Envelope(type=ALERT_RECEIVED, source="sentry", time=at, payload=payload.model_dump(mode="json"))


def log_line(n: int, message: str, at: datetime = T0 + timedelta(hours=1), host: str = "app-1") -> Envelope:
    at += timedelta(seconds=n)
    payload = LogsPayload(records=[LogRecord(message=message, host=host, timestamp=at)])
    return Envelope(type=LOGS_RECEIVED, source="syslog", time=at, payload=payload.model_dump(mode="json"))


async def live(ctx: WorkerContext, drain) -> None:
    """What the live worker does with what was accepted."""
    for task in (AlertArchiveTask, AlertStoreTask, AlertIncidentTask, LogArchiveTask, LogMiningTask, LogIncidentTask):
        await drain(task(ctx))


async def replay(ctx: WorkerContext, drain, **params: Any) -> ReplayRun:
    run_id = uuid.uuid4()
    checked = ReplayParams.model_validate({"start": T0, "end": T0 + timedelta(hours=2), "metrics": False, **params})
    async with ctx.sessions.begin() as session:
        session.add(ReplayRun(id=run_id, requested_by="test", status=ReplayStatus.queued,
                              params=checked.model_dump(mode="json")))
    await ctx.bus.publish(REPLAY_STREAM, Envelope(type=REPLAY_REQUESTED, source="api",
                                                  payload=ReplayRequestedPayload(run_id=str(run_id)).model_dump()))
    await drain(ReplayTask(ctx))
    async with ctx.sessions() as session:
        run = await session.get(ReplayRun, run_id)
    assert run is not None
    return run


async def snapshot(ctx: WorkerContext, redis: Redis) -> dict[str, int]:
    """Row counts of every table but the replay runs, and the length of every stream."""
    counts = {}
    async with ctx.sessions() as session:
        for table in metadata.sorted_tables:
            if table.name != "replay_runs":
                counts[table.name] = await session.scalar(select(func.count()).select_from(table))
        counts["pg_tables"] = await session.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
    for key in sorted(await redis.keys("*")):
        if await redis.type(key) == b"stream" and not key.endswith(REPLAY_STREAM.name.encode()):
            counts[key.decode()] = await redis.xlen(key)
    return counts


def ctx_without_embeddings(worker_ctx: WorkerContext) -> WorkerContext:
    return replace(worker_ctx, settings=worker_ctx.settings.model_copy(update={"log_embeddings_enabled": False}))


async def test_the_same_settings_replay_what_did_and_changes_show_as_a_diff(worker_ctx: WorkerContext, bus: Bus,
                                                                            redis: Redis, drain) -> None:
    """A Sentry burst and postgres FATAL lines on db-1 are one incident; without correlation they would be two."""
    ctx = ctx_without_embeddings(worker_ctx)
    await bus.publish_many(ALERTS_INGESTED, [alert(n) for n in range(2)])
    await bus.publish_many(LOGS_INGESTED, [log_line(n, f"FATAL: too many connections for role app{n}", at=T0, host="db-1")
                                           for n in range(3)])
    await live(ctx, drain)
    before = await snapshot(ctx, redis)

    same = await replay(ctx, drain)
    assert same.status == ReplayStatus.done, same.error
    assert same.result is not None and same.result["would"]["incidents"] == same.result["did"]["incidents"] == 1
    assert set(same.result["diff"].values()) == {0} and same.result["changes"] == []

    apart = await replay(ctx, drain, changes={"incident_correlation_window_s": 0, "automation_rules": [RULE]})
    assert apart.result is not None
    assert apart.result["would"] == {"incidents": 2, "alerts": 2, "automations": 2}
    assert apart.result["diff"]["split"] == 1 and apart.result["diff"]["automations_added"] == 2
    split = next(c for c in apart.result["changes"] if c["change"] == "split")
    assert split["incident"]["events"] == 5 and sorted(i["events"] for i in split["into"]) == [2, 3]
    assert await snapshot(ctx, redis) == before  # nothing but the runs' rows changed


async def test_candidate_log_rules_would_open_an_incident(worker_ctx: WorkerContext, bus: Bus, drain) -> None:
    ctx = ctx_without_embeddings(worker_ctx)
    await bus.publish_many(LOGS_INGESTED, [log_line(n, f"widget frobnication stalled on shard {n}") for n in range(3)])
    await live(ctx, drain)
    rule = {"name": "frobnication", "category": "app", "severity": "high", "pattern": "frobnication stalled"}

    run = await replay(ctx, drain, changes={"log_rules": [rule]})
    assert run.result is not None and run.result["did"]["incidents"] == 0
    assert run.result["diff"]["created"] == 1
    (created,) = run.result["changes"]
    assert created["incident"]["hosts"] == ["app-1"] and created["incident"]["events"] == 3


async def test_a_rule_re2_cannot_run_fails_the_run_with_its_name(worker_ctx: WorkerContext, drain) -> None:
    rule = {"name": "backref", "category": "app", "severity": "high", "pattern": r"(a)\1"}
    run = await replay(worker_ctx, drain, changes={"log_rules": [rule]})
    assert run.status == ReplayStatus.failed and "backref" in run.error and run.result is None


async def test_an_unexpected_error_fails_the_run_with_the_reason_and_acks_its_entry(worker_ctx: WorkerContext,
                                                                                  redis: Redis, drain) -> None:
    """Parameters stored by an earlier release that no longer validate: retrying cannot help, so the run ends
    `failed` saying why, at its first delivery, and the entry is neither left pending nor dead-lettered."""
    run_id = uuid.uuid4()
    async with worker_ctx.sessions.begin() as session:
        session.add(ReplayRun(id=run_id, requested_by="test", status=ReplayStatus.queued,
                              params={"start": T0.isoformat(), "end": (T0 + timedelta(days=30)).isoformat()}))
    await worker_ctx.bus.publish(REPLAY_STREAM, Envelope(type=REPLAY_REQUESTED, source="api",
                                                         payload=ReplayRequestedPayload(run_id=str(run_id)).model_dump()))
    await drain(ReplayTask(worker_ctx))
    async with worker_ctx.sessions() as session:
        run = await session.get(ReplayRun, run_id)
    assert run is not None and run.status == ReplayStatus.failed and run.finished_at is not None
    assert "unexpected error: ValidationError" in run.error and "7 days" in run.error
    key = worker_ctx.bus.key(REPLAY_STREAM)
    assert (await redis.xpending(key, ReplayTask.name))["pending"] == 0
    assert await redis.xlen(worker_ctx.bus.dead_letter_key(REPLAY_STREAM)) == 0


async def test_a_run_stored_before_the_range_bounds_is_still_replayed(worker_ctx: WorkerContext, drain) -> None:
    """The bounds on a range (InfluxDB's times, not in the future) hold for a new request only (the API's
    ReplayRequest): a run stored before them is read as stored and replayed, not failed as invalid."""
    old = ReplayParams(start=datetime(1024, 5, 1, tzinfo=UTC), end=datetime(1024, 5, 2, tzinfo=UTC), metrics=False)
    run = await replay(worker_ctx, drain, **old.model_dump())
    assert (run.status, run.error) == (ReplayStatus.done, "")
    assert run.result is not None and run.result["inputs"]["alerts"] == 0


async def test_a_result_postgresql_refuses_fails_the_run_and_acks_its_entry(own_influx_ctx: WorkerContext,
                                                                          redis: Redis, drain) -> None:
    """An anomaly alert published before alerts had NUL replaced (a NUL-padded interface name in its series) is
    archived as published. Replayed with metrics that no longer raise it, it is listed as removed with its archived
    title, which JSONB refuses. Storing it again would fail the same way: the run ends `failed` saying so, at its
    first delivery, instead of being replayed at every delivery and then again by the sweep."""
    ctx = own_influx_ctx
    at = T0 + timedelta(minutes=5)
    payload = AlertPayload(fingerprint="anomaly:if_octets", title="Anomaly", host="sw-1", occurred_at=at)
    published = {**payload.model_dump(mode="json"), "title": "Anomaly: if_octets{ifDescr=Gi0/1\0\0}"}
    await ctx.bus.publish(ALERTS_INGESTED, Envelope(type=ALERT_RECEIVED, source=ANOMALY_SOURCE, time=at,
                                                    payload=published))
    await drain(AlertArchiveTask(ctx))

    run = await replay(ctx, drain, metrics=True)
    assert (run.status, run.result, run.finished_at is not None) == (ReplayStatus.failed, None, True)
    assert run.error.startswith("the result could not be stored: ") and "\\u0000" in run.error
    key = ctx.bus.key(REPLAY_STREAM)
    assert (await redis.xpending(key, ReplayTask.name))["pending"] == 0
    assert await redis.xlen(ctx.bus.dead_letter_key(REPLAY_STREAM)) == 0


async def test_the_event_limit_cuts_the_inputs(worker_ctx: WorkerContext, bus: Bus, drain) -> None:
    await bus.publish_many(ALERTS_INGESTED, [alert(n) for n in range(4)])
    await drain(AlertArchiveTask(worker_ctx))
    ctx = replace(worker_ctx, settings=worker_ctx.settings.model_copy(update={"replay_max_events": 2}))
    run = await replay(ctx, drain)
    assert run.result is not None and run.result["inputs"]["truncated"] and run.result["inputs"]["alerts"] == 2


async def write_latency_spike(ctx: WorkerContext) -> None:
    """600 one-minute points of a seasonal latency on db-9 from METRICS_START_S, a spike at the 450th."""
    measurement = f"replay_{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(7)
    values = 50 + 5 * np.sin(2 * np.pi * np.arange(600) / 300) + rng.uniform(-1, 1, 600)
    values[450] += 40
    await ctx.influx.ensure_database(ctx.settings.influx_retention_days)
    await ctx.influx.write("\n".join(f"{measurement},host=db-9 latency_ms={float(v)!r} {(METRICS_START_S + 60 * i) * 10**9}"
                                     for i, v in enumerate(values)))


async def test_anomaly_thresholds_replay_metrics_from_influx(own_influx_ctx: WorkerContext, drain) -> None:
    worker_ctx = own_influx_ctx
    await write_latency_spike(worker_ctx)
    window = {"start": datetime.fromtimestamp(METRICS_START_S, UTC),
              "end": datetime.fromtimestamp(METRICS_START_S + 60 * 600, UTC), "metrics": True}
    default = await replay(worker_ctx, drain, **window)
    strict = await replay(worker_ctx, drain, **window, changes={"anomaly_alert_min_z": 100})
    assert default.result is not None and default.result["inputs"]["metric_points"] == 600
    added = [c["alert"] for c in default.result["changes"] if c["change"] == "alert_added"]
    assert [a["host"] for a in added] == ["db-9"] and default.result["would"]["incidents"] == 1
    assert strict.result is not None and strict.result["would"] == {"incidents": 0, "alerts": 0, "automations": 0}


SHOWN = ("incidents", "incident_signals", "incident_events", "alerts", "log_templates", "log_miner_state")


async def contents(ctx: WorkerContext) -> dict[str, str]:
    """A digest of every row of the tables an operator reads (counts alone would miss a changed incident); the
    table names are this file's constants (identifiers cannot be bound)."""
    async with ctx.sessions() as session:
        return {table: await session.scalar(text(f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
                                                 f"FROM {table} t")) for table in SHOWN}


async def test_a_snapshot_starts_from_the_incident_and_templates_open_before_the_range(
        worker_ctx: WorkerContext, bus: Bus, redis: Redis, drain) -> None:
    """An alert on db-1 six minutes before the range opened an incident that a FATAL pattern, seen before the
    range too, joined again in it. From a snapshot the replay continues that incident: no difference, not even
    with a rule paging on opened incidents. From a fresh start the pattern opens an incident of its own, which
    would have paged."""
    ctx = ctx_without_embeddings(worker_ctx)
    await bus.publish_many(ALERTS_INGESTED, [alert(-3)])
    await bus.publish_many(LOGS_INGESTED, [
        log_line(0, "FATAL: too many connections for role app", at=T0 - timedelta(minutes=4), host="db-1"),
        log_line(0, "FATAL: too many connections for role app", at=T0 + timedelta(minutes=1), host="db-1")])
    await live(ctx, drain)
    async with ctx.sessions() as session:
        assert len((await session.scalars(select(Incident))).all()) == 1
    counts, rows = await snapshot(ctx, redis), await contents(ctx)

    continued = await replay(ctx, drain, starting_state="snapshot", changes={"automation_rules": [RULE]})
    assert continued.result is not None, continued.error
    stated = continued.result["starting_state"]
    assert (stated["kind"], stated["incidents"], stated["templates"], stated["warmup_points"]) == ("snapshot", 1, 1, 0)
    assert continued.result["would"]["incidents"] == continued.result["did"]["incidents"] == 1
    assert set(continued.result["diff"].values()) == {0}

    fresh = await replay(ctx, drain, changes={"automation_rules": [RULE]})
    assert fresh.result is not None and fresh.result["starting_state"]["kind"] == "fresh"
    assert fresh.result["starting_state"]["incidents"] == fresh.result["starting_state"]["templates"] == 0
    assert fresh.result["diff"]["automations_added"] == 1 and fresh.result["diff"]["created"] == 0
    assert await snapshot(ctx, redis) == counts and await contents(ctx) == rows  # nothing an operator sees changed


async def test_the_replay_resolves_quiet_incidents_as_the_live_sweep_does(worker_ctx: WorkerContext, bus: Bus,
                                                                          drain) -> None:
    """Two FATAL patterns on db-1 are one incident; live's sweep resolves it (1 s of quiet); the first pattern
    again a minute later is a new episode, not the resolved incident (rule 3): the replay agrees. Without the
    sweep applied in event time the replay would still hold that incident open and put the line in it. A snapshot
    after the resolution starts with that incident resolved."""
    ctx = ctx_without_embeddings(worker_ctx)
    ctx = replace(ctx, settings=ctx.settings.model_copy(update={"incident_window_s": 1.0}))
    await bus.publish_many(LOGS_INGESTED, [
        log_line(0, "FATAL: too many connections for role app", at=T0, host="db-1"),
        log_line(1, "FATAL: terminating connection due to administrator command", at=T0, host="db-1")])
    await live(ctx, drain)
    sweeper = LogIncidentTask(ctx)

    async def resolved() -> bool:
        await sweeper.resolve_quiet()
        async with ctx.sessions() as session:
            return (await session.scalars(select(Incident.status))).one() == IncidentStatus.resolved

    await until(resolved, 30, "the sweep resolves the quiet incident")
    await bus.publish_many(LOGS_INGESTED, [log_line(0, "FATAL: too many connections for role app",
                                                    at=T0 + timedelta(minutes=1), host="db-1")])
    await live(ctx, drain)

    run = await replay(ctx, drain)
    assert run.result is not None, run.error
    assert run.result["would"]["incidents"] == run.result["did"]["incidents"] == 2
    assert set(run.result["diff"].values()) == {0}

    later = await replay(ctx, drain, start=T0 + timedelta(seconds=30), starting_state="snapshot")
    assert later.result is not None, later.error  # the first incident, resolved before the range, is known as such
    assert (later.result["starting_state"]["incidents"], later.result["starting_state"]["resolved_incidents"]) == (0, 1)
    assert set(later.result["diff"].values()) == {0}


async def test_a_snapshot_warms_the_detectors_on_the_metrics_before_the_range(own_influx_ctx: WorkerContext,
                                                                             drain) -> None:
    """A latency spike 50 minutes into the range: fresh detectors are still warming up and miss it, detectors
    warmed on the REPLAY_WARMUP_S (here 6 h of one-minute points) before the range raise it."""
    ctx = own_influx_ctx
    await write_latency_spike(ctx)
    window = {"start": datetime.fromtimestamp(METRICS_START_S + 60 * 400, UTC),
              "end": datetime.fromtimestamp(METRICS_START_S + 60 * 600, UTC), "metrics": True}

    fresh = await replay(ctx, drain, **window)
    warmed = await replay(ctx, drain, **window, starting_state="snapshot")
    assert fresh.result is not None and fresh.result["would"]["alerts"] == 0
    assert warmed.result is not None and warmed.result["starting_state"]["warmup_points"] == 360
    added = [c["alert"] for c in warmed.result["changes"] if c["change"] == "alert_added"]
    assert [a["host"] for a in added] == ["db-9"]
