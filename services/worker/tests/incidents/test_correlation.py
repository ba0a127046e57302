"""Cross-signal incidents: a Sentry error burst in a service, a log-template burst on the database host it
depends on and a latency anomaly on that host become one incident with its evidence and origin; unrelated
simultaneous problems stay separate; host labels are normalised; the join is bounded in event time."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from aiops_contracts.bus import Bus
from aiops_contracts.db import Incident, IncidentSignal, IncidentSplit, TopologyEdge
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import (
    ALERT_RECEIVED,
    ANOMALY_SOURCE,
    FORECAST_SOURCE,
    LOG_TEMPLATED,
    AlertPayload,
    LogEvent,
    LogEventsPayload,
    Severity,
    SignalKind,
)
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_TEMPLATED
from aiops_contracts.topology import DEPENDS_ON
from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.incidents.task import AlertIncidentTask, LogIncidentTask
from aiops_worker.runtime.context import WorkerContext

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(envelope_id: str, fingerprint: str, seconds: float, *, source: str, host: str | None = None,
          service: str | None = None, score: float | None = None, signal: SignalKind | None = None) -> Envelope:
    payload = AlertPayload(fingerprint=fingerprint, title=f"{source}: {fingerprint}", severity=Severity.high,
                           host=host, service=service, occurred_at=at(seconds),
                           details={} if score is None else {"score": score}, signal=signal)
    return Envelope(id=envelope_id, type=ALERT_RECEIVED, source=source, payload=payload.model_dump(mode="json"))


def log_burst(envelope_id: str, template_id: str, host: str, service: str, seconds: list[float]) -> Envelope:
    events = [LogEvent(event_id=f"{envelope_id}:{i}", template_id=template_id, template=f"{template_id} <*>",
                       message=f"{template_id} {i}", host=host, service=service, severity=Severity.high,
                       occurred_at=at(s)) for i, s in enumerate(seconds)]
    return Envelope(id=envelope_id, type=LOG_TEMPLATED, source="test",
                    payload=LogEventsPayload(events=events).model_dump(mode="json"))


async def declare(ctx: WorkerContext, service: str, dependency: str) -> None:
    async with ctx.sessions.begin() as session:
        session.add(TopologyEdge(kind=DEPENDS_ON, source=service, target=dependency, origin="declared", labels={}))


async def run(ctx: WorkerContext, drain, logs: list[Envelope], alerts: list[Envelope]) -> None:
    await ctx.bus.publish_many(LOGS_TEMPLATED, logs)
    await ctx.bus.publish_many(ALERTS_INGESTED, alerts)
    await drain(LogIncidentTask(ctx))
    await drain(AlertStoreTask(ctx))
    await drain(AlertIncidentTask(ctx))


async def evidence(ctx: WorkerContext) -> dict[object, list[IncidentSignal]]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(IncidentSignal).order_by(IncidentSignal.first_seen_at, IncidentSignal.id))
        found: dict[object, list[IncidentSignal]] = {}
        for row in rows:
            found.setdefault(row.incident_id, []).append(row)
        return found


async def test_checkout_scenario_is_one_incident_with_origin_and_unrelated_problems_stay_separate(
    bus: Bus, worker_ctx: WorkerContext, drain
) -> None:
    await declare(worker_ctx, "checkout", "postgres")
    await run(worker_ctx, drain, logs=[
        log_burst("pg", "t-fatal", "db-1", "postgres", [0, 1, 2, 20]),
        log_burst("fs", "t-nospace", "files-3", "nfsd", [15, 16]),  # unrelated, at the same time
    ], alerts=[
        alert("lat", "latency-db-1", 10, source="anomaly-detector", host="db-1:9187", score=4.5,
              signal=SignalKind.anomaly),
        alert("am", "PostgresTooManyConnections", 12, source="alertmanager", host="DB-1.prod.example.com:9187",
              service="postgres", signal=SignalKind.alert),
        *(alert(f"se{i}", "OperationalError", 30 + i, source="sentry", host="checkout-7f9c", service="checkout",
                signal=SignalKind.error) for i in range(3)),
        alert("disk", "disk-files-3", 17, source="anomaly-detector", host="files-3"),
        alert("bill", "TimeoutError", 25, source="sentry", host="billing-1", service="billing"),
    ])
    async with worker_ctx.sessions() as session:
        incidents = {i.id: i for i in await session.scalars(select(Incident))}
    by_incident = await evidence(worker_ctx)
    assert len(incidents) == 3
    db = next(rows for rows in by_incident.values() if any(r.host == "db-1" for r in rows))
    assert [(r.group_key, r.kind, r.source, r.count, r.rule) for r in db] == [  # each signal kind its own row
        ("log:t-fatal:db-1", "log", "", 4, "opened"),
        ("alert:host:db-1", "anomaly", "anomaly-detector", 1, "same_host"),
        ("alert:host:db-1", "alert", "alertmanager", 1, "same_key"),
        ("alert:host:checkout-7f9c", "error", "sentry", 3, "depends_on"),
    ]
    assert [r.via for r in db[1:]] == ["host db-1", "alert:host:db-1", "checkout depends on postgres"]
    assert db[1].score == 4.5 and db[0].score is None  # the anomaly's score; a log burst has none
    assert (db[3].first_seen_at, db[3].last_seen_at) == (at(30), at(32))
    incident = incidents[db[0].incident_id]
    assert (incident.details["origin"], incident.details["origin_kind"]) == ("log:t-fatal:db-1", "log")
    assert incident.event_count == 9 and set(incident.hosts) == {"db-1", "checkout-7f9c"}
    others = sorted(sorted(r.group_key for r in rows) for rows in by_incident.values() if rows is not db)
    assert others == [["alert:host:billing-1"], ["alert:host:files-3", "log:t-nospace:files-3"]]


async def test_learned_service_on_host_joins_a_hostless_service_alert(bus: Bus, worker_ctx: WorkerContext,
                                                                      drain) -> None:
    await run(worker_ctx, drain, logs=[log_burst("pg", "t-fatal", "db-1.example.org", "postgres", [0, 1])],
              alerts=[alert("svc", "replication-lag", 40, source="webhook", service="postgres")])
    (rows,) = (await evidence(worker_ctx)).values()
    assert [(r.group_key, r.rule, r.via) for r in rows] == [
        ("log:t-fatal:db-1", "opened", ""), ("alert:service:postgres", "runs_on", "postgres runs on db-1")]
    async with worker_ctx.sessions() as session:
        learned = (await session.execute(select(TopologyEdge.kind, TopologyEdge.source, TopologyEdge.target,
                                                TopologyEdge.origin))).all()
    assert learned == [("runs_on", "postgres", "db-1", "learned")]


async def test_signals_hours_apart_on_one_host_are_not_joined(bus: Bus, worker_ctx: WorkerContext, drain) -> None:
    """The join is bounded in event time on both sides: anomalies backfilled from hours before an error on
    the same host open their own incident, and the host's current incident stays the latest."""
    await run(worker_ctx, drain, logs=[], alerts=[alert("err", "OperationalError", 9000, source="sentry", host="web-1")])
    await run(worker_ctx, drain, logs=[], alerts=[
        alert("cpu1", "cpu-web-1", 0, source="anomaly-detector", host="web-1"),
        alert("cpu2", "cpu-web-1", 60, source="anomaly-detector", host="web-1")])
    await run(worker_ctx, drain, logs=[], alerts=[alert("err2", "OperationalError", 9030, source="sentry", host="web-1")])
    async with worker_ctx.sessions() as session:
        rows = (await session.execute(select(Incident.first_seen_at, Incident.event_count)
                                      .order_by(Incident.first_seen_at))).all()
    assert rows == [(at(0), 2), (at(9000), 2)]


async def test_log_sweep_leaves_an_incident_that_holds_alerts_to_the_alert_sweep(bus: Bus, worker_ctx: WorkerContext,
                                                                                 drain) -> None:
    await run(worker_ctx, drain, logs=[log_burst("pg", "t-fatal", "db-1", "postgres", [0])],
              alerts=[alert("lat", "latency-db-1", 10, source="anomaly-detector", host="db-1")])
    async with worker_ctx.sessions.begin() as session:  # quiet for a minute of wall clock
        await session.execute(update(Incident).values(updated_at=datetime.now(UTC) - timedelta(minutes=1)))
    await LogIncidentTask(worker_ctx).resolve_quiet()
    async with worker_ctx.sessions() as session:
        assert await session.scalar(select(Incident.status)) == "open"


async def test_a_split_pair_is_not_merged_again_within_its_memory(bus: Bus, worker_ctx: WorkerContext, drain) -> None:
    await run(worker_ctx, drain, logs=[log_burst("pg", "t-fatal", "db-1", "postgres", [0])], alerts=[])
    async with worker_ctx.sessions.begin() as session:  # an operator split the host's alerts from that template
        incident_id = await session.scalar(select(Incident.id))
        session.add(IncidentSplit(incident_id=incident_id, new_incident_id=incident_id, group_key="alert:host:db-1",
                                  other_keys=["log:t-fatal:db-1"], actor="op", at=at(0), until=at(3600)))
    await run(worker_ctx, drain, logs=[], alerts=[alert("lat", "latency-db-1", 10, source="anomaly-detector", host="db-1")])
    assert sorted(len(rows) for rows in (await evidence(worker_ctx)).values()) == [1, 1]


async def test_a_correlated_incident_is_not_reopened_by_one_of_its_keys(bus: Bus, worker_ctx: WorkerContext,
                                                                        drain) -> None:
    """An incident of several signals is one episode: its host's alert firing again after it ended (within
    INCIDENT_REOPEN_S) opens a new incident; an incident of that one key alone is reopened, as before."""
    await run(worker_ctx, drain, logs=[log_burst("pg", "t-fatal", "db-1", "postgres", [0])], alerts=[
        alert("lat", "latency-db-1", 10, source="anomaly-detector", host="db-1"),
        alert("cpu", "cpu-web-1", 10, source="anomaly-detector", host="web-1")])
    await run(worker_ctx, drain, logs=[], alerts=[
        alert("lat2", "latency-db-1", 1500, source="anomaly-detector", host="db-1"),
        alert("cpu2", "cpu-web-1", 1500, source="anomaly-detector", host="web-1")])
    async with worker_ctx.sessions() as session:
        rows = (await session.execute(select(Incident.first_seen_at, Incident.status, Incident.event_count,
                                             Incident.details["reopen_count"].as_integer())
                                      .order_by(Incident.first_seen_at, Incident.event_count))).all()
    assert rows == [(at(0), "resolved", 2, 0), (at(10), "open", 2, 1), (at(1500), "open", 1, 0)]


async def test_a_quiet_log_burst_still_takes_the_alerts_of_its_fault(bus: Bus, worker_ctx: WorkerContext, drain) -> None:
    """The database's FATAL lines go quiet and the log sweep resolves their incident within seconds, while the
    alert for the database and the errors of the service depending on it arrive over the next minutes: they
    join that episode (reopened), not an incident of their own; a backfill from hours before still does not."""
    await declare(worker_ctx, "checkout", "postgres")
    await run(worker_ctx, drain, logs=[log_burst("pg", "t-fatal", "db-1", "postgres", [0, 1, 2])], alerts=[])
    async with worker_ctx.sessions.begin() as session:  # quiet for a minute of wall clock
        await session.execute(update(Incident).values(updated_at=datetime.now(UTC) - timedelta(minutes=1)))
    await LogIncidentTask(worker_ctx).resolve_quiet()
    await run(worker_ctx, drain, logs=[], alerts=[
        alert("am", "PostgresTooManyConnections", 40, source="alertmanager", host="db-1:9187", service="postgres",
              signal=SignalKind.alert),
        alert("err", "OperationalError", 90, source="sentry", host="web-1", service="checkout", signal=SignalKind.error)])
    await run(worker_ctx, drain, logs=[], alerts=[alert("old", "cpu-db-1", -9000, source="anomaly-detector", host="db-1")])
    async with worker_ctx.sessions() as session:
        rows = (await session.execute(select(Incident.first_seen_at, Incident.status, Incident.event_count,
                                             Incident.details["reopen_count"].as_integer())
                                      .order_by(Incident.first_seen_at))).all()
    assert rows == [(at(-9000), "open", 1, 0), (at(0), "open", 5, 1)]
    (_, entries), = [(k, v) for k, v in (await evidence(worker_ctx)).items() if len(v) == 3]
    assert [(e.kind, e.rule) for e in entries] == [("log", "opened"), ("alert", "same_host"), ("error", "depends_on")]


async def test_evidence_lists_each_kind_of_a_source_and_reads_an_older_producers_kind_from_its_source(
    bus: Bus, worker_ctx: WorkerContext, drain
) -> None:
    """One source may send two kinds of signal (the pipelines: a failed build, a build anomaly): two rows of
    its key; an alert of a producer that does not say its kind is read from its source, as migration 0021
    read stored rows (so it joins its migrated row)."""
    await run(worker_ctx, drain, logs=[], alerts=[
        alert("failed", "build-failed", 0, source="pipelines", service="checkout", signal=SignalKind.alert),
        alert("slow", "build-duration", 5, source="pipelines", service="checkout", signal=SignalKind.anomaly),
        alert("failed2", "build-failed", 10, source="pipelines", service="checkout", signal=SignalKind.alert),
        alert("old", "legacy", 15, source="nagios", service="checkout"),
        alert("old-anomaly", "latency", 20, source=ANOMALY_SOURCE, service="checkout"),
        alert("old-forecast", "disk", 25, source=FORECAST_SOURCE, service="checkout")])
    (rows,) = (await evidence(worker_ctx)).values()
    assert sorted((r.kind, r.source, r.count) for r in rows) == [
        ("alert", "nagios", 1), ("alert", "pipelines", 2), ("anomaly", ANOMALY_SOURCE, 1),
        ("anomaly", "pipelines", 1), ("forecast", FORECAST_SOURCE, 1)]
