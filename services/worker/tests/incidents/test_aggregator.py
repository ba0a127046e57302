"""The aggregator's grouping rule: window, resolution, reopening; and the task's idempotency on PostgreSQL."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from aiops_contracts import bus as bus_module
from aiops_contracts.bus import Bus, StreamBacklogFull
from aiops_contracts.db import Incident, IncidentEvent, IncidentSignal, TopologyEdge
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import (
    ALERT_STORED,
    LOG_TEMPLATED,
    AlertStatus,
    AlertStoredPayload,
    LogEvent,
    LogEventsPayload,
    Severity,
    TimelineKind,
)
from aiops_contracts.incidents import change_id
from aiops_contracts.streams import ALERTS_STORED, INCIDENTS_CHANGED, LOGS_TEMPLATED
from aiops_worker.incidents.aggregator import Action, Aggregation, Known, Policy, decide
from aiops_worker.incidents.signals import signal_from_alert, signal_from_log
from aiops_worker.incidents.task import AlertIncidentTask, LogIncidentTask
from aiops_worker.runtime.context import WorkerContext

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
POLICY = Policy(window=timedelta(seconds=5), reopen=timedelta(hours=1), sample_limit=3)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(("status", "last_seen", "resolved", "event", "expected"), [
    ("open", 0, None, 4.9, Action.JOIN),
    ("acknowledged", 0, None, 5, Action.JOIN),
    ("open", 0, None, 6, Action.REOPEN),  # quiet past the window: resolved at 5 s, reopened
    ("resolved", 0, 5, 3000, Action.REOPEN),
    ("resolved", 0, 5, 3606, Action.OPEN),  # more than an hour after the resolution
    ("resolved", 0, 5, 4, Action.JOIN),  # happened before the resolution (delivered late): counted, stays resolved
    ("resolved", 0, 5, 5, Action.JOIN),
    ("resolved", 0, None, 1, Action.OPEN),  # resolved without a time (never written so): nothing to reopen
    ("open", 0, None, 4000, Action.OPEN),
    ("open", 0, None, -5, Action.JOIN),  # a little before the first event (out of order): same episode
    ("open", 0, None, -6, Action.BEFORE),  # more than the window before it: another, earlier episode
    ("resolved", 0, 5, -9000, Action.BEFORE),  # hours before: not late news of this one
])
def test_decide(status, last_seen, resolved, event, expected) -> None:
    incident = Incident(status=status, first_seen_at=at(0), last_seen_at=at(last_seen), resolved_at=at(resolved) if resolved else None)
    assert decide(incident, at(event), POLICY) is expected


def test_decide_without_incident_opens() -> None:
    assert decide(None, T0, POLICY) is Action.OPEN


@pytest.mark.parametrize("occurred_at", ["2026-03-02T09:00:00Z", "2026-03-02T17:00:00.123456+08:00",
                                         "2026-03-02T05:30:00-03:30"])
def test_signal_keeps_the_time_and_offset_of_its_event(occurred_at: str) -> None:
    event = LogEvent.model_validate({**log_event(1, 0).model_dump(), "occurred_at": occurred_at})
    signal = signal_from_log(event, "env-1")
    assert signal.at == event.occurred_at and signal.at.isoformat() == event.occurred_at.isoformat()


def test_a_time_without_offset_is_utc() -> None:
    alert = AlertStoredPayload(alert_id="a-1", fingerprint="fp", title="down", severity=Severity.high,
                               status=AlertStatus.firing, source="alertmanager", host="web-1")
    signals = [signal_from_alert(alert, f"env-{n}", (T0 + timedelta(seconds=n)).replace(tzinfo=None)) for n in range(2)]
    assert [s.at for s in signals] == [at(0), at(1)]
    aggregation = Aggregation(replace(POLICY, correlate=timedelta(minutes=10)), Known(latest={}))
    first, second = (aggregation.add(s) for s in signals)
    assert first is second and (first.first_seen_at, first.last_seen_at) == (at(0), at(1))


def log_event(n: int, seconds: float, host: str = "web-1", template: str = "t-oom", severity=Severity.high) -> LogEvent:
    return LogEvent(event_id=f"e{n}", template_id=template, prototype_id="p-" + template, template=f"{template} <*>",
                    message=f"{template} {n}", host=host, service="kernel", severity=severity, category="memory",
                    rule="oom-killer", occurred_at=at(seconds))


def envelope(envelope_id: str, *events: LogEvent) -> Envelope:
    return Envelope(id=envelope_id, type=LOG_TEMPLATED, source="test",
                    payload=LogEventsPayload(events=list(events)).model_dump(mode="json"))


async def incidents(ctx: WorkerContext) -> list[Incident]:
    async with ctx.sessions() as session:
        return list((await session.scalars(select(Incident).order_by(Incident.first_seen_at))).all())


async def test_burst_is_one_incident_and_other_host_another(bus: Bus, worker_ctx: WorkerContext, redis, drain) -> None:
    await bus.publish_many(LOGS_TEMPLATED, [
        envelope("a", log_event(1, 0), log_event(2, 1), log_event(3, 4)),
        envelope("b", log_event(4, 2, host="web-2"), log_event(5, 10, severity=Severity.critical)),
    ])
    await drain(LogIncidentTask(worker_ctx))
    web1, web2 = await incidents(worker_ctx)
    assert (web1.hosts, web1.event_count, web1.status, web1.severity) == (["web-1"], 4, "open", "critical")
    assert web1.details["reopen_count"] == 1  # 4 s -> 10 s is past the 5 s window
    assert len(web1.details["samples"]) == 4 and web1.details["template_ids"] == ["t-oom"]
    assert (web2.hosts, web2.event_count) == (["web-2"], 1)
    async with worker_ctx.sessions() as session:
        kinds = (await session.scalars(select(IncidentEvent.kind).where(IncidentEvent.incident_id == web1.id)
                                       .order_by(IncidentEvent.at, IncidentEvent.id))).all()
    assert kinds[0] == "opened" and "resolved" in kinds and "reopened" in kinds


async def test_redelivered_envelope_changes_nothing_and_is_announced_again(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                           drain) -> None:
    """A redelivery (the announcement failed after the commit: Redis down, a crash) announces the change again as it
    was first announced, under the same change id: `incident.opened` for the envelope that opened the incident (so
    the automation rules on `incident.opened` still fire; consumers drop the copy they already had by its id)."""
    await bus.publish_many(LOGS_TEMPLATED, [envelope("a", log_event(1, 0), log_event(2, 1))])
    await drain(LogIncidentTask(worker_ctx))
    await bus.publish_many(LOGS_TEMPLATED, [envelope("a", log_event(1, 0), log_event(2, 1))])
    await drain(LogIncidentTask(worker_ctx))
    (incident,) = await incidents(worker_ctx)
    assert incident.event_count == 2
    announced = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))]
    assert [(e.type, e.payload["reopened"]) for e in announced] == [("incident.opened", False)] * 2
    assert announced[0].id == announced[1].id
    assert all(e.payload["incident_id"] == str(incident.id) for e in announced)


async def test_redelivered_reopening_and_update_are_announced_as_first(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                       drain) -> None:
    task = LogIncidentTask(worker_ctx)
    for name, seconds in [("a", 0), ("b", 20), ("c", 21)]:  # b: past the window, reopens; c: joins
        await bus.publish_many(LOGS_TEMPLATED, [envelope(name, log_event(seconds, seconds))])
        await drain(task)
    first = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))]
    await bus.publish_many(LOGS_TEMPLATED, [envelope("b", log_event(20, 20)), envelope("c", log_event(21, 21))])
    await drain(task)
    announced = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))]
    assert [(e.type, e.payload["reopened"]) for e in first] == [
        ("incident.opened", False), ("incident.opened", True), ("incident.updated", False)]
    assert {(e.id, e.type, e.payload["reopened"]) for e in announced[3:]} == {
        (e.id, e.type, e.payload["reopened"]) for e in first[1:]}


async def test_quiet_incident_is_resolved_then_a_late_event_opens_a_new_one(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                           drain) -> None:
    task = LogIncidentTask(worker_ctx)
    await bus.publish_many(LOGS_TEMPLATED, [envelope("a", log_event(1, 0))])
    await drain(task)
    async with worker_ctx.sessions.begin() as session:  # as if the last event came 10 s ago
        await session.execute(update(Incident).values(updated_at=datetime.now(UTC) - timedelta(seconds=10)))
    await task.resolve_quiet()
    (resolved,) = await incidents(worker_ctx)
    assert (resolved.status, resolved.resolved_at) == ("resolved", at(5))
    await bus.publish_many(LOGS_TEMPLATED, [envelope("b", log_event(2, 2 * 3600))])
    await drain(task)
    first, second = await incidents(worker_ctx)
    assert (first.id, first.status, second.status, second.event_count) == (resolved.id, "resolved", "open", 1)
    announced = [Envelope.from_entry(f).type for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))]
    assert announced == ["incident.opened", "incident.resolved", "incident.opened"]


async def test_a_resolution_whose_announcement_failed_is_announced_by_the_next_sweep_once(
        worker_ctx: WorkerContext, redis, drain, monkeypatch) -> None:
    """The sweep commits the resolution, then announces it: when that fails (here the stream is full of entries a
    slow group has not read: StreamBacklogFull; or Redis is down, or the worker dies in between), a later sweep
    announces it, once."""
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)  # read the backlog on every publish
    ctx = replace(worker_ctx, settings=worker_ctx.settings.model_copy(update={"stream_maxlen_factor": 1e-4}))
    key, task = ctx.bus.key(INCIDENTS_CHANGED), LogIncidentTask(ctx)  # MAXLEN 10 on the incidents' stream
    await ctx.bus.publish_many(LOGS_TEMPLATED, [envelope("a", log_event(1, 0))])
    await drain(task)
    async with ctx.sessions.begin() as session:  # as if the last event came 10 s ago
        await session.execute(update(Incident).values(updated_at=datetime.now(UTC) - timedelta(seconds=10)))
    await redis.xgroup_create(key, "slow", id="$")
    await ctx.bus.publish_many(INCIDENTS_CHANGED, [Envelope(type="test.filler", source="test") for _ in range(9)])
    with pytest.raises(StreamBacklogFull):
        await task.resolve_quiet()
    (incident,) = await incidents(ctx)
    assert incident.status == "resolved"
    await redis.xgroup_setid(key, "slow", "$")  # the slow group caught up
    await task.resolve_quiet()
    await task.resolve_quiet()
    resolved = [e for e in (Envelope.from_entry(f) for _, f in await redis.xrange(key)) if e.type == "incident.resolved"]
    assert [(e.payload["incident_id"], e.payload["status"]) for e in resolved] == [(str(incident.id), "resolved")]


async def test_operators_changes_whose_announcement_failed_are_announced_by_the_next_sweep_once(
        worker_ctx: WorkerContext, redis, drain) -> None:
    """An operator's change waits in the outbox (its timeline row's `announce`) until the API has announced it; when
    that failed, the next sweep announces it, once, under the change id the API uses; of an incident's waiting
    changes only the latest stands (an acknowledgement then a resolution: the resolution)."""
    task = LogIncidentTask(worker_ctx)
    await worker_ctx.bus.publish_many(LOGS_TEMPLATED, [envelope("a", log_event(1, 0)),
                                                       envelope("b", log_event(2, 0, host="web-2"))])
    await drain(task)
    acked, resolved = await incidents(worker_ctx)
    now = datetime.now(UTC)
    changes = [(acked, "acknowledged", "incident.updated"), (resolved, "acknowledged", "incident.updated"),
               (resolved, "resolved", "incident.resolved")]
    async with worker_ctx.sessions.begin() as session:  # as the API commits them
        await session.execute(update(Incident).where(Incident.id == acked.id).values(status="acknowledged"))
        await session.execute(update(Incident).where(Incident.id == resolved.id).values(status="resolved",
                                                                                       resolved_at=now))
        session.add_all([IncidentEvent(incident_id=i.id, event_id=None, at=now, kind=kind, count=0,
                                       message=f"{kind} by operator", announce=event_type)
                         for i, kind, event_type in changes])
    await task.resolve_quiet()
    await task.resolve_quiet()
    announced = [Envelope.from_entry(f) for _, f in await redis.xrange(worker_ctx.bus.key(INCIDENTS_CHANGED))][2:]
    assert [(e.id, e.type, e.payload["incident_id"], e.payload["status"]) for e in announced] == [
        (change_id(f"acknowledged:{now.isoformat()}", str(acked.id), "incident.updated"), "incident.updated",
         str(acked.id), "acknowledged"),
        (change_id(f"resolved:{now.isoformat()}", str(resolved.id), "incident.resolved"), "incident.resolved",
         str(resolved.id), "resolved")]
    async with worker_ctx.sessions() as session:
        assert not (await session.scalars(select(IncidentEvent).where(IncidentEvent.announce.is_not(None)))).all()


async def test_names_longer_than_their_columns_are_cut_alike_everywhere(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                         drain) -> None:
    event = log_event(1, 0).model_copy(update={"host": "h" * 300, "service": "S" * 300})  # labels reach 1,024
    await bus.publish_many(LOGS_TEMPLATED, [envelope("a", event)])
    await drain(LogIncidentTask(worker_ctx))
    host, service = "h" * 255, "s" * 255
    (incident,) = await incidents(worker_ctx)
    assert (incident.hosts, incident.services) == ([host], [service])
    async with worker_ctx.sessions() as session:
        evidence = (await session.execute(select(IncidentSignal.host, IncidentSignal.service))).all()
        timeline = (await session.scalars(select(IncidentEvent.host)
                                          .where(IncidentEvent.kind == TimelineKind.events))).all()
        edges = (await session.execute(select(TopologyEdge.source, TopologyEdge.target))).all()
    assert (evidence, timeline, edges) == ([(host, service)], [host], [(service, host)])


def quiet_event(n: int, seconds: float) -> LogEvent:
    """A line naming neither host nor service: its key has nothing to correlate on."""
    return log_event(n, seconds).model_copy(update={"host": None, "service": None})


@pytest.mark.parametrize(("host", "correlate"), [(None, timedelta(0)), (None, timedelta(minutes=10)),
                                                  ("web-1", timedelta(0))])  # (with both, the host correlates them)
def test_a_late_burst_is_one_earlier_episode(host: str | None, correlate: timedelta) -> None:
    aggregation = Aggregation(replace(POLICY, correlate=correlate), Known(latest={}))
    signals = [signal_from_log(log_event(n, seconds).model_copy(update={"host": host, "service": None}), f"env-{n}")
               for n, seconds in enumerate([100, 90, 91, 93, 94, 60])]
    placed = [aggregation.add(signal) for signal in signals]
    later, earlier, earliest = placed[0], placed[1], placed[5]
    assert placed == [later, earlier, earlier, earlier, earlier, earliest]
    assert len({later.id, earlier.id, earliest.id}) == 3
    assert aggregation.latest[signals[0].key] is later


@pytest.mark.parametrize("correlate", [timedelta(0), timedelta(minutes=10)])
async def test_late_and_replayed_events_of_a_key_join_their_episode(bus: Bus, worker_ctx: WorkerContext, redis, drain,
                                                                    correlate: timedelta) -> None:
    task = LogIncidentTask(worker_ctx)
    task.policy = replace(task.policy, correlate=correlate)
    late = [quiet_event(n, 90 + n) for n in range(5)]  # more than the 5 s window before the key's incident
    for name, events in [("a", [quiet_event(9, 100)]), ("b", late[:3]), ("c", late[3:]),
                         ("d", late), ("e", [quiet_event(10, 103)])]:  # d: the same lines again (a replayed stream)
        await bus.publish_many(LOGS_TEMPLATED, [envelope(name, *events)])
        await drain(task)  # each envelope in a batch of its own: the earlier episode is read back from PostgreSQL
    earlier, later = await incidents(worker_ctx)
    assert (earlier.first_seen_at, earlier.last_seen_at, earlier.event_count) == (at(90), at(94), 10)
    assert (later.first_seen_at, later.last_seen_at, later.event_count) == (at(100), at(103), 2)


def stored_alert(envelope_id: str, minutes: float, host: str | None, service: str | None = None) -> Envelope:
    payload = AlertStoredPayload(alert_id=str(uuid.uuid4()), fingerprint=envelope_id, title=f"alert {envelope_id}",
                                 severity=Severity.high, status=AlertStatus.firing, source="alertmanager", host=host,
                                 service=service, occurred_at=at(60 * minutes))
    return Envelope(id=envelope_id, type=ALERT_STORED, source="test", payload=payload.model_dump(mode="json"))


async def test_a_late_event_of_an_earlier_episode_an_operator_resolved_leaves_it_resolved(
    bus: Bus, worker_ctx: WorkerContext, redis, drain
) -> None:
    """Rule 5 finds the earlier episode holding the key: the event is late news there (rule 4), never a reopening,
    even when it happened after the operator's click (the key's own reopening is its latest incident's, rule 3)."""
    async with worker_ctx.sessions.begin() as session:
        session.add(TopologyEdge(kind="runs_on", source="api", target="web-1", origin="declared"))
    task = AlertIncidentTask(worker_ctx)  # alerts: 10 min window, correlated within 10 min

    async def aggregate(*envelopes: Envelope) -> list[Envelope]:
        """Handle the envelopes (a batch); what it announced."""
        before = len(await redis.xrange(bus.key(INCIDENTS_CHANGED)))
        await bus.publish_many(ALERTS_STORED, list(envelopes))
        await drain(task)
        return [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))][before:]

    await aggregate(stored_alert("a1", 0, "web-1"), stored_alert("a2", 1, None, "api"))  # one incident, two keys
    (episode,) = await incidents(worker_ctx)
    async with worker_ctx.sessions.begin() as session:  # an operator resolved it at 3 min
        await session.execute(update(Incident).values(status="resolved", resolved_at=at(180)))
    await aggregate(stored_alert("a3", 30, "web-1"))  # web-1 again, after the episode: a new incident (rule 3)
    announced = await aggregate(stored_alert("a4", 5, "web-1"))  # late, stamped after the click
    earlier, later = await incidents(worker_ctx)
    assert earlier.id == episode.id and later.id != episode.id
    assert (earlier.status, earlier.resolved_at, earlier.event_count, earlier.last_seen_at) == (
        "resolved", at(180), 3, at(300))
    assert (later.status, later.event_count) == ("open", 1)
    assert [(e.type, e.payload["incident_id"], e.payload["reopened"]) for e in announced] == [
        ("incident.resolved", str(episode.id), False)]


@pytest.mark.parametrize("swept", [False, True])
async def test_an_event_after_the_quiet_window_groups_alike_before_and_after_the_sweep(
    bus: Bus, worker_ctx: WorkerContext, redis, drain, swept: bool
) -> None:
    """Rule 2: an incident holding several keys (correlated on their host) resolves after `window` of quiet, by the
    sweep or by the next event: a key of it firing again later opens a new incident either way (rule 3), whether
    the sweep ran first or not; and the old incident is resolved at the same time."""
    task = LogIncidentTask(worker_ctx)
    await bus.publish_many(LOGS_TEMPLATED, [envelope("a", log_event(1, 0), log_event(2, 1, template="t-disk"))])
    await drain(task)
    (episode,) = await incidents(worker_ctx)
    if swept:
        async with worker_ctx.sessions.begin() as session:  # as if the last event came 10 s ago
            await session.execute(update(Incident).values(updated_at=datetime.now(UTC) - timedelta(seconds=10)))
        await task.resolve_quiet()
    await bus.publish_many(LOGS_TEMPLATED, [envelope("b", log_event(3, 30))])  # t-oom again, 29 s later
    await drain(task)
    old, new = await incidents(worker_ctx)
    assert (old.id, old.status, old.resolved_at, old.event_count) == (episode.id, "resolved", at(6), 2)
    assert (new.status, new.event_count, new.first_seen_at) == ("open", 1, at(30))
    announced = [Envelope.from_entry(f).type for _, f in await redis.xrange(bus.key(INCIDENTS_CHANGED))]
    assert announced == ["incident.opened", "incident.resolved", "incident.opened"]


def test_an_incident_this_task_does_not_sweep_keeps_correlating_the_key() -> None:
    """An incident that joined signals of the log and alert tasks is resolved by the alert task's sweep (its longer
    window): for the log task, a log key of it firing again after the log window still joins it while it is open."""
    logs = replace(POLICY, correlate=timedelta(minutes=10), key_prefix="log:", sweeps_mixed=False)
    aggregation = Aggregation(logs, Known(latest={}))
    alert = AlertStoredPayload(alert_id=str(uuid.uuid4()), fingerprint="f", title="high load", severity=Severity.high,
                               status=AlertStatus.firing, source="alertmanager", host="web-1")
    first = aggregation.add(signal_from_log(log_event(1, 0), "a"))
    assert aggregation.add(signal_from_alert(alert, "b", at(1))) is first
    assert aggregation.add(signal_from_log(log_event(2, 30), "c")) is first
    assert first.status == "open"
    aggregation.policy = replace(logs, sweeps_mixed=True)  # as if its sweep resolved it: a new incident
    assert aggregation.add(signal_from_log(log_event(3, 60), "d")) is not first
    assert (first.status, first.resolved_at) == ("resolved", at(35))
