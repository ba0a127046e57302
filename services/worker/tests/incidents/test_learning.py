"""The topology learned from labels: Telegraf points tagged with a host and a service, every log line naming a
host and a program, every alert naming a host and a service become learned `runs_on` edges (names normalised),
with their environment and release as labels, written once per process (again when a label changes); a
declared edge keeps its origin. The names are the clients', so the table holds a bounded number of learned
edges, whatever a client sends."""

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, func, select

from aiops_contracts.bus import Bus
from aiops_contracts.db import TopologyEdge
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOG_TEMPLATED, METRICS_RECEIVED, LogEvent, LogEventsPayload, MetricsPayload, Severity
from aiops_contracts.streams import LOGS_TEMPLATED, METRICS_INGESTED
from aiops_worker.incidents import learning
from aiops_worker.incidents.learning import TopologyLearner, runs_on_of_lines
from aiops_worker.incidents.store import learn_runs_on
from aiops_worker.incidents.task import LogIncidentTask
from aiops_worker.metrics.task import MetricsWriterTask
from aiops_worker.runtime.context import WorkerContext


def test_pairs_come_from_host_and_service_tags() -> None:
    lines = ("postgresql,host=DB-1.example.org,service=Postgres,db=app numbackends=3i 1\n"
             "nginx,app=web,environment=production,host=web-1:80 active=1i 1\n"
             "prometheus,job=node,host=web-2 up=1i 1\n"
             "cpu,host=web-3 usage_idle=90 1\n"  # no service tag: nothing learned
             "queue,service=billing depth=3i 1")  # no host
    assert runs_on_of_lines(lines) == {("postgres", "db-1"): {}, ("web", "web-1"): {"environment": "production"},
                                       ("node", "web-2"): {}}


async def test_the_metrics_writer_learns_which_services_run_where(bus: Bus, worker_ctx: WorkerContext, drain) -> None:
    async with worker_ctx.sessions.begin() as session:
        session.add(TopologyEdge(kind="runs_on", source="web", target="web-1", origin="declared", labels={}))
    now = time.time_ns()
    lines = [f"postgresql,host=db-1:5432,service=postgres numbackends={i}i {now - i * 10**9}" for i in range(3)]
    lines.append(f"nginx,host=web-1,app=web active=1i {now}")
    await bus.publish_many(METRICS_INGESTED, [Envelope(type=METRICS_RECEIVED, source="telegraf", payload=MetricsPayload(
        lines="\n".join(lines), count=len(lines)).model_dump())])
    await drain(MetricsWriterTask(worker_ctx))
    async with worker_ctx.sessions() as session:
        edges = (await session.execute(select(TopologyEdge.kind, TopologyEdge.source, TopologyEdge.target,
                                              TopologyEdge.origin).order_by(TopologyEdge.source))).all()
    assert edges == [("runs_on", "postgres", "db-1", "learned"), ("runs_on", "web", "web-1", "declared")]


async def test_a_learned_edge_merges_its_labels_and_a_declared_edge_keeps_its_own(worker_ctx: WorkerContext) -> None:
    async with worker_ctx.sessions.begin() as session:
        session.add_all([
            TopologyEdge(kind="runs_on", source="web", target="web-1", origin="declared", labels={"environment": "prod"}),
            TopologyEdge(kind="runs_on", source="api", target="web-1", origin="learned",
                         labels={"environment": "staging", "release": "1"})])
    async with worker_ctx.sessions.begin() as session:
        await learn_runs_on(session, {("web", "web-1"): {"environment": "test"}, ("api", "web-1"): {"release": "2"}},
                            limit=10)
    async with worker_ctx.sessions() as session:
        edges = (await session.execute(select(TopologyEdge.source, TopologyEdge.origin, TopologyEdge.labels)
                                       .order_by(TopologyEdge.source))).all()
    assert edges == [("api", "learned", {"environment": "staging", "release": "2"}),
                     ("web", "declared", {"environment": "prod"})]


def bounded(ctx: WorkerContext, limit: int) -> WorkerContext:
    return replace(ctx, settings=ctx.settings.model_copy(update={"topology_max_learned_edges": limit}))


async def stored_edges(ctx: WorkerContext) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    async with ctx.sessions() as session:
        rows = await session.execute(select(TopologyEdge.source, TopologyEdge.target, TopologyEdge.origin,
                                            TopologyEdge.labels))
    return {(source, target): (origin, labels) for source, target, origin, labels in rows}


def refused_total() -> float:
    return REGISTRY.get_sample_value("aiops_worker_topology_edges_refused_total") or 0.0


async def test_a_flood_of_names_stops_at_the_bound_and_known_edges_keep_learning(
        worker_ctx: WorkerContext, caplog: pytest.LogCaptureFixture) -> None:
    async with worker_ctx.sessions.begin() as session:
        session.add(TopologyEdge(kind="runs_on", source="web", target="web-1", origin="declared", labels={}))
    learner, before = TopologyLearner(bounded(worker_ctx, 3)), refused_total()
    await learner.learn({("api", "web-1"): {}, ("web", "web-1"): {}})
    flood = "\n".join(f"cpu,host=h-{i},service=s-{i} usage=1 1" for i in range(50))  # a client inventing names
    with caplog.at_level(logging.WARNING, logger=learning.__name__):
        for _ in range(3):  # a refused edge is not asked for again
            await learner.learn(runs_on_of_lines(flood))
        await learner.learn({("api", "web-1"): {"release": "2"}, ("web", "web-1"): {"release": "2"}})
    edges = await stored_edges(worker_ctx)
    assert sum(origin == "learned" for origin, _ in edges.values()) == 3
    assert edges[("api", "web-1")] == ("learned", {"release": "2"})  # a known edge still learns its labels
    assert edges[("web", "web-1")] == ("declared", {})
    assert refused_total() - before == 48
    assert [r.message for r in caplog.records].count("topology full: new learned edges are not stored") == 1


async def test_an_incident_task_asks_for_a_refused_edge_once(bus: Bus, worker_ctx: WorkerContext, drain) -> None:
    """The incident tasks store what a batch's signals teach in their own transaction (TopologyLearner.store), from
    a topology read from the table each batch: an edge the full table refused is not asked for, nor counted,
    again with every batch that names it."""
    task, before = LogIncidentTask(bounded(worker_ctx, 0)), refused_total()
    for batch in range(3):
        events = [LogEvent(event_id=f"e-{batch}-{host}", template_id="t-oom", template="oom <*>", message="oom 1",
                           host=host, service="kernel", severity=Severity.high, occurred_at=datetime.now(UTC))
                  for host in ("db-1", "db-2")]
        await bus.publish_many(LOGS_TEMPLATED, [Envelope(id=f"batch-{batch}", type=LOG_TEMPLATED, source="test",
                                                         payload=LogEventsPayload(events=events).model_dump(mode="json"))])
        await drain(task)
    assert await stored_edges(worker_ctx) == {}
    assert refused_total() - before == 2


async def test_a_refused_edge_is_asked_for_again_once_forgotten(
        worker_ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin deleting edges makes room: the learner asks for the edges it refused again, not before it forgets
    them (REFUSED_FORGOTTEN_AFTER_S after the first refusal), but without a restart."""
    now = [1_000.0]
    monkeypatch.setattr(learning, "monotonic", lambda: now[0])
    learner, before = TopologyLearner(bounded(worker_ctx, 1)), refused_total()
    await learner.learn({("api", "web-1"): {}})
    await learner.learn({("db", "db-1"): {}})
    async with worker_ctx.sessions.begin() as session:  # what DELETE /topology/edges/{id} does
        await session.execute(delete(TopologyEdge).where(TopologyEdge.source == "api"))
    now[0] += learning.REFUSED_FORGOTTEN_AFTER_S - 1
    await learner.learn({("db", "db-1"): {}})
    assert await stored_edges(worker_ctx) == {}
    now[0] += 1
    await learner.learn({("db", "db-1"): {}})
    assert await stored_edges(worker_ctx) == {("db", "db-1"): ("learned", {})}
    assert refused_total() - before == 1


async def test_writers_at_once_never_pass_the_bound(worker_ctx: WorkerContext) -> None:
    ctx = bounded(worker_ctx, 10)
    await asyncio.gather(*(TopologyLearner(ctx).learn({(f"s-{w}-{i}", "h"): {} for i in range(8)}) for w in range(4)))
    async with worker_ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TopologyEdge)) == 10


def test_long_series_heads_are_read_but_not_cached() -> None:
    tags = "".join(f",t{i}=v{i}" for i in range(300))  # a series key of a few KB
    before = learning._cached_runs_on_of_head.cache_info().currsize
    assert runs_on_of_lines(f"cpu,host=h-long,service=web{tags} usage=1 1") == {("web", "h-long"): {}}
    assert learning._cached_runs_on_of_head.cache_info().currsize == before
    assert runs_on_of_lines("cpu,host=h-short,service=web usage=1 1") == {("web", "h-short"): {}}
    assert learning._cached_runs_on_of_head.cache_info().currsize == before + 1
