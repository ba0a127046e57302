"""Stored alerts (anomalies included) into incidents: grouping per host, links from the alert rows,
idempotency, the live channel, the sweep, and the reopen rule after a manual resolution."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select, update

from aiops_contracts.bus import Bus, live_envelopes
from aiops_contracts.db import Alert, Incident, IncidentEvent, ProcessedEvent
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import (
    ALERT_RECEIVED,
    LOG_TEMPLATED,
    AlertPayload,
    AlertStatus,
    LogEvent,
    LogEventsPayload,
    Severity,
)
from aiops_contracts.streams import ALERTS_INGESTED, ALERTS_STORED, INCIDENTS_CHANGED, LOGS_TEMPLATED
from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.incidents.task import AlertIncidentTask, LogIncidentTask
from aiops_worker.runtime.context import WorkerContext

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def received(envelope_id: str, fingerprint: str, seconds: float, host: str | None = "web-1", *,
             service: str | None = None, status: AlertStatus = AlertStatus.firing, severity: Severity = Severity.medium,
             source: str = "anomaly-detector") -> Envelope:
    payload = AlertPayload(fingerprint=fingerprint, title=f"Anomaly: {fingerprint}", severity=severity, status=status,
                           host=host, service=service, occurred_at=at(seconds))
    return Envelope(id=envelope_id, type=ALERT_RECEIVED, source=source, payload=payload.model_dump(mode="json"))


async def store_and_aggregate(ctx: WorkerContext, drain, *envelopes: Envelope) -> None:
    """What the worker does: the alert store writes the rows and announces them on the stored stream,
    the incident task reads that stream."""
    await ctx.bus.publish_many(ALERTS_INGESTED, list(envelopes))
    await drain(AlertStoreTask(ctx))
    await drain(AlertIncidentTask(ctx))


async def incidents(ctx: WorkerContext) -> dict[str, Incident]:
    async with ctx.sessions() as session:
        return {i.group_key: i for i in await session.scalars(select(Incident))}


async def alert_links(ctx: WorkerContext) -> dict[str, object]:
    async with ctx.sessions() as session:
        return dict((await session.execute(select(Alert.fingerprint, Alert.incident_id))).all())


async def snapshot(ctx: WorkerContext) -> tuple:
    async with ctx.sessions() as session:
        rows = (await session.execute(select(Incident.id, Incident.event_count, Incident.status, Incident.hosts,
                                             Incident.last_seen_at).order_by(Incident.id))).all()
        timeline = await session.scalar(select(func.count()).select_from(IncidentEvent))
        ledger = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    return rows, timeline, ledger, await alert_links(ctx)


async def test_alerts_of_two_hosts_become_two_linked_incidents_and_redelivery_changes_nothing(
    bus: Bus, worker_ctx: WorkerContext, redis, drain
) -> None:
    live = redis.pubsub(ignore_subscribe_messages=True)
    await live.subscribe(bus.live_channel)
    await store_and_aggregate(worker_ctx, drain,
                              received("a1", "cpu-web-1", 0),
                              received("a2", "latency-web-1", 30, severity=Severity.high),
                              received("a3", "cpu-web-1", 90),  # the same alert again: its row counts 2
                              received("b1", "cpu-web-2", 10, host="web-2"))
    by_key = await incidents(worker_ctx)
    assert set(by_key) == {"alert:host:web-1", "alert:host:web-2"}
    web1, web2 = by_key["alert:host:web-1"], by_key["alert:host:web-2"]
    assert (web1.event_count, web1.hosts, web1.status, web1.severity) == (3, ["web-1"], "open", "high")
    assert (web1.first_seen_at, web1.last_seen_at, web1.title) == (at(0), at(90), "Anomaly: cpu-web-1")
    assert [s["message"] for s in web1.details["samples"]] == ["Anomaly: cpu-web-1", "Anomaly: latency-web-1",
                                                               "Anomaly: cpu-web-1"]
    assert (web2.event_count, web2.hosts) == (1, ["web-2"])
    assert await alert_links(worker_ctx) == {"cpu-web-1": web1.id, "latency-web-1": web1.id, "cpu-web-2": web2.id}

    announced = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))]
    assert sorted((e.type, e.payload["group_key"]) for e in announced) == [
        ("incident.opened", "alert:host:web-1"), ("incident.opened", "alert:host:web-2")]
    messages = []
    for _ in range(20):  # None also stands for the (ignored) subscribe confirmation: read a few times
        if (message := await live.get_message(timeout=0.1)) is not None:
            messages.extend(orjson.loads(text) for text in live_envelopes(message["data"]))
    assert {m["id"] for m in messages if m["type"].startswith("incident.")} == {e.id for e in announced}
    await live.aclose()

    # Redelivery of every stored envelope (a crash before the ack): nothing changes; the incidents are announced again.
    before = await snapshot(worker_ctx)
    stored = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(ALERTS_STORED))]
    assert len(stored) == 4 and all(e.payload["occurred_at"] for e in stored)
    await bus.publish_many(ALERTS_STORED, stored)
    await drain(AlertIncidentTask(worker_ctx))
    assert await snapshot(worker_ctx) == before
    again = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))][len(announced):]
    assert {e.payload["incident_id"] for e in again} == {str(web1.id), str(web2.id)}
    assert await redis.xpending(bus.key(ALERTS_STORED), AlertIncidentTask.name) == {
        "pending": 0, "min": None, "max": None, "consumers": []}


async def test_resolved_alerts_open_nothing_and_keys_fall_back_to_service_then_alert(
    worker_ctx: WorkerContext, redis, drain
) -> None:
    await store_and_aggregate(worker_ctx, drain,
                              received("r1", "disk-web-3", 0, host="web-3", status=AlertStatus.resolved),
                              received("s1", "errors", 0, host=None, service="checkout", source="sentry"),
                              received("n1", "cpu-series-x", 5, host=None))
    by_key = await incidents(worker_ctx)
    assert set(by_key) == {"alert:service:checkout", "alert:anomaly-detector:cpu-series-x"}
    links = await alert_links(worker_ctx)
    assert links["disk-web-3"] is None
    assert links["errors"] == by_key["alert:service:checkout"].id


async def test_quiet_alert_incident_is_resolved_by_its_own_sweep_only(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                        drain) -> None:
    worker_ctx.settings.incident_correlation_window_s = 0  # each key on its own: one incident per task
    await store_and_aggregate(worker_ctx, drain, received("a1", "cpu-web-1", 0))
    line = LogEvent(event_id="l1:0", template_id="t-oom", template="oom <*>", message="oom 1", host="web-1",
                    severity=Severity.high, occurred_at=at(0))
    payload = LogEventsPayload(events=[line]).model_dump(mode="json")
    await bus.publish_many(LOGS_TEMPLATED, [Envelope(id="l1", type=LOG_TEMPLATED, source="test", payload=payload)])
    await drain(LogIncidentTask(worker_ctx))
    async with worker_ctx.sessions.begin() as session:  # both quiet for 20 min (wall clock)
        await session.execute(update(Incident).values(updated_at=datetime.now(UTC) - timedelta(minutes=20)))
    await AlertIncidentTask(worker_ctx).resolve_quiet()
    by_key = await incidents(worker_ctx)
    alert_incident = by_key["alert:host:web-1"]
    assert (alert_incident.status, alert_incident.resolved_at) == ("resolved", at(600))  # last event + 10 min
    assert [i.status for k, i in by_key.items() if k.startswith("log:")] == ["open"]


async def test_manual_resolution_late_events_join_later_ones_reopen(worker_ctx: WorkerContext, redis,
                                                                    drain) -> None:
    await store_and_aggregate(worker_ctx, drain, received("a1", "cpu-web-1", 0))
    async with worker_ctx.sessions.begin() as session:  # an operator resolved it at 2 min (as the API does)
        await session.execute(update(Incident).values(status="resolved", resolved_at=at(120)))
    # Happened before the click, delivered after it: counted, the incident stays resolved.
    await store_and_aggregate(worker_ctx, drain, received("a2", "latency-web-1", 60))
    (incident,) = (await incidents(worker_ctx)).values()
    assert (incident.status, incident.event_count, incident.resolved_at) == ("resolved", 2, at(120))
    # After the click, within INCIDENT_REOPEN_S: the same incident reopens.
    await store_and_aggregate(worker_ctx, drain, received("a3", "cpu-web-1", 900))
    (incident,) = (await incidents(worker_ctx)).values()
    assert (incident.status, incident.event_count, incident.resolved_at) == ("open", 3, None)
    assert incident.details["reopen_count"] == 1
    # Resolved again, and the next alert comes more than an hour later: a new incident.
    async with worker_ctx.sessions.begin() as session:
        await session.execute(update(Incident).values(status="resolved", resolved_at=at(1000)))
    await store_and_aggregate(worker_ctx, drain, received("a4", "cpu-web-1", 1000 + 3601))
    async with worker_ctx.sessions() as session:
        statuses = (await session.scalars(select(Incident.status).order_by(Incident.first_seen_at))).all()
    assert statuses == ["resolved", "open"]
    assert (await alert_links(worker_ctx))["latency-web-1"] != (await alert_links(worker_ctx))["cpu-web-1"]


async def test_a_new_alert_joining_its_keys_open_incident_is_stored_linked_to_it(bus: Bus, worker_ctx: WorkerContext,
                                                                              redis, drain) -> None:
    await store_and_aggregate(worker_ctx, drain, received("a1", "cpu-web-1", 0))
    (incident,) = (await incidents(worker_ctx)).values()
    late = worker_ctx.settings.incident_alert_window_s + 1  # past the incident's window: the incident task decides
    await bus.publish_many(ALERTS_INGESTED, [received("a2", "latency-web-1", 60),
                                             received("a3", "disk-web-1", 60, status=AlertStatus.resolved),
                                             received("a4", "memory-web-1", late),
                                             received("b1", "cpu-web-2", 60, host="web-2")])
    await drain(AlertStoreTask(worker_ctx))
    assert await alert_links(worker_ctx) == {"cpu-web-1": incident.id, "latency-web-1": incident.id,
                                             "disk-web-1": None, "memory-web-1": None, "cpu-web-2": None}
    stored = {e.payload["fingerprint"]: e.payload["incident_id"]
              for e in (Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(ALERTS_STORED)))}
    assert stored["latency-web-1"] == str(incident.id)

    await drain(AlertIncidentTask(worker_ctx))  # a2 joined, a4 came after the window (the same key alone: reopened)
    by_key = await incidents(worker_ctx)
    assert await alert_links(worker_ctx) == {"cpu-web-1": incident.id, "latency-web-1": incident.id, "disk-web-1": None,
                                             "memory-web-1": incident.id, "cpu-web-2": by_key["alert:host:web-2"].id}
    assert by_key["alert:host:web-1"].event_count == 3


async def reopen_as_an_operator(ctx: WorkerContext, ago: timedelta, announced: bool = True) -> None:
    """What POST /incidents/{id}/reopen wrote `ago`: open again, no resolution, one more reopening counted, a
    `reopened` row without event; not `announced`: its announcement failed, the row waits for a sweep to make it."""
    when = datetime.now(UTC) - ago
    async with ctx.sessions.begin() as session:
        (incident,) = await session.scalars(select(Incident))
        details = {**incident.details, "reopen_count": incident.details.get("reopen_count", 0) + 1}
        await session.execute(update(Incident).values(status="open", resolved_at=None, updated_at=when, details=details))
        session.add(IncidentEvent(incident_id=incident.id, event_id=None, at=when, kind="reopened", count=0,
                                  message="reopened by operator", announce=None if announced else "incident.opened"))


@pytest.mark.parametrize("announced", [True, False])
async def test_an_operators_reopening_holds_for_a_full_resolve_window(bus: Bus, worker_ctx: WorkerContext,
                                                                     drain, announced: bool) -> None:
    """The logs' sweep (5 s window) no longer re-resolves what an operator reopened: it waits for the longer
    (alert) window from the reopening, then resolves it no earlier than the reopening; alike when the reopening's
    announcement failed (its row waiting in the outbox until a sweep announces it)."""
    line = LogEvent(event_id="l1:0", template_id="t-oom", template="oom <*>", message="oom 1", host="web-1",
                    severity=Severity.high, occurred_at=at(0))
    payload = LogEventsPayload(events=[line]).model_dump(mode="json")
    await bus.publish_many(LOGS_TEMPLATED, [Envelope(id="l1", type=LOG_TEMPLATED, source="test", payload=payload)])
    task = LogIncidentTask(worker_ctx)
    await drain(task)
    async with worker_ctx.sessions.begin() as session:  # quiet for 20 min (wall clock)
        await session.execute(update(Incident).values(updated_at=datetime.now(UTC) - timedelta(minutes=20)))
    await task.resolve_quiet()
    assert [i.status for i in (await incidents(worker_ctx)).values()] == ["resolved"]

    await reopen_as_an_operator(worker_ctx, timedelta(seconds=20), announced)  # 4 log windows ago, in the alert one
    await task.resolve_quiet()
    (incident,) = (await incidents(worker_ctx)).values()
    assert (incident.status, incident.resolved_at) == ("open", None)

    reopened = datetime.now(UTC) - timedelta(minutes=11)
    async with worker_ctx.sessions.begin() as session:  # 11 min later: more than an alert window since then
        await session.execute(update(IncidentEvent).where(IncidentEvent.kind == "reopened").values(at=reopened))
        await session.execute(update(Incident).values(updated_at=reopened))
    await task.resolve_quiet()
    (incident,) = (await incidents(worker_ctx)).values()
    assert (incident.status, incident.resolved_at) == ("resolved", reopened)  # not at(5): before the reopening


@pytest.mark.parametrize("ago", [timedelta(seconds=20), timedelta(minutes=11)])
@pytest.mark.parametrize("swept", [True, False])
async def test_an_event_after_an_operators_reopening_groups_alike_before_and_after_the_sweep(
        bus: Bus, worker_ctx: WorkerContext, drain, swept: bool, ago: timedelta) -> None:
    """The sweep keeps an incident an operator reopened open for the alert window, then resolves it no earlier than
    the reopening; the next event decides as if the sweep had run (aggregator rule 2), whether it did or not. Within
    that hold the event joins the reopened incident; after it, the incident counts as resolved at the reopening,
    so an event within INCIDENT_REOPEN_S of that reopens it; alike before and after a sweep announced the reopening
    (its row waiting in the outbox until then). Before: the event resolved it at its last event + the
    window, two hours before the operator's click, and opened a new incident (when the sweep had not resolved it)."""
    now = datetime.now(UTC)
    task = LogIncidentTask(worker_ctx)

    async def oom(envelope_id: str, occurred_at: datetime) -> None:
        line = LogEvent(event_id=f"{envelope_id}:0", template_id="t-oom", template="oom <*>", message="oom 1",
                        host="web-1", severity=Severity.high, occurred_at=occurred_at)
        payload = LogEventsPayload(events=[line]).model_dump(mode="json")
        await bus.publish_many(LOGS_TEMPLATED, [Envelope(id=envelope_id, type=LOG_TEMPLATED, source="test",
                                                         payload=payload)])
        await drain(task)

    first = now - timedelta(hours=2)
    await oom("l1", first)
    async with worker_ctx.sessions.begin() as session:  # quiet for two hours (wall clock)
        await session.execute(update(Incident).values(updated_at=first))
    await task.resolve_quiet()
    await reopen_as_an_operator(worker_ctx, ago, announced=False)  # not announced yet: a sweep announces it
    if swept:
        await task.resolve_quiet()
    await oom("l2", now)
    await task.resolve_quiet()  # (after the event: it changes nothing, the incident was just updated)

    async with worker_ctx.sessions() as session:
        (incident,) = (await session.scalars(select(Incident))).all()  # one incident: the event did not open another
        timeline = (await session.execute(select(IncidentEvent.kind, IncidentEvent.at, IncidentEvent.event_id)
                                          .order_by(IncidentEvent.at, IncidentEvent.id))).all()
    reopened = next(when for kind, when, event_id in timeline if kind == "reopened" and event_id is None)
    resolutions = [when for kind, when, _ in timeline if kind == "resolved"]
    quiet = first + timedelta(seconds=worker_ctx.settings.incident_window_s)  # the first resolution, by the sweep
    assert (incident.status, incident.resolved_at, incident.event_count) == ("open", None, 2)
    if ago < worker_ctx.settings.incident_alert_window_s * timedelta(seconds=1):  # held: the event joins it
        assert (resolutions, incident.details["reopen_count"]) == ([quiet], 1)
    else:  # resolved at the reopening, reopened by the event
        assert (resolutions, incident.details["reopen_count"]) == ([quiet, reopened], 2)


def test_incident_task_is_registered() -> None:
    from aiops_worker.main import TASKS

    assert AlertIncidentTask in TASKS
