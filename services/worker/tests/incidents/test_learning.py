"""The topology learned from labels: Telegraf points tagged with a host and a service, every log line naming a
host and a program, every alert naming a host and a service become learned `runs_on` edges (names normalised),
with their environment and release as labels, written once per process (again when a label changes); a
declared edge keeps its origin."""

import time

from sqlalchemy import select

from aiops_contracts.bus import Bus
from aiops_contracts.db import TopologyEdge
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import METRICS_RECEIVED, MetricsPayload
from aiops_contracts.streams import METRICS_INGESTED
from aiops_worker.incidents.learning import runs_on_of_lines
from aiops_worker.incidents.store import learn_runs_on
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
        await learn_runs_on(session, {("web", "web-1"): {"environment": "test"}, ("api", "web-1"): {"release": "2"}})
    async with worker_ctx.sessions() as session:
        edges = (await session.execute(select(TopologyEdge.source, TopologyEdge.origin, TopologyEdge.labels)
                                       .order_by(TopologyEdge.source))).all()
    assert edges == [("api", "learned", {"environment": "staging", "release": "2"}),
                     ("web", "declared", {"environment": "prod"})]
