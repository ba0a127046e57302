"""Worker entry point: builds the clients, lists the tasks and runs them under the supervisor."""

import asyncio
import logging
import signal

from prometheus_client import start_http_server
from redis.asyncio import Redis

from aiops_contracts.db.session import make_engine, make_sessionmaker
from aiops_contracts.heap import freeze_heap
from aiops_contracts.influx import InfluxClient
from aiops_contracts.logging import configure_logging
from aiops_contracts.tracing import configure_tracing, shutdown_tracing
from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.anomalies.task import AnomalyTask
from aiops_worker.archive.task import AlertArchiveTask, ArchiveRetentionTask, LogArchiveTask
from aiops_worker.automations.rules import install_rules
from aiops_worker.automations.task import AlertAutomationTask, ApprovedRunTask, IncidentAutomationTask, RunSweepTask
from aiops_worker.enrichment.memory import IncidentMemoryTask
from aiops_worker.enrichment.task import EnrichmentTask
from aiops_worker.forecasts.task import ForecastTask
from aiops_worker.incidents.task import AlertIncidentTask, LogIncidentTask
from aiops_worker.incidents.topology_file import install_topology
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.metrics.task import MetricsWriterTask
from aiops_worker.notifications.flush import NotificationFlushTask
from aiops_worker.notifications.routing import install_receivers, load_routing
from aiops_worker.notifications.task import NotificationTask
from aiops_worker.pipelines.analysis import PipelineAnalysisTask
from aiops_worker.pipelines.task import PipelineRunTask
from aiops_worker.producers.file_tail import FileTailProducer
from aiops_worker.producers.manager import ProducerManager
from aiops_worker.producers.snmp_traps import SnmpTrapProducer
from aiops_worker.producers.syslog import SyslogProducer
from aiops_worker.replay.task import ReplayTask
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.health import HeartbeatTask
from aiops_worker.runtime.retention import RetentionTask
from aiops_worker.runtime.supervisor import Supervisor, Task
from aiops_worker.settings import WorkerSettings

log = logging.getLogger(__name__)

# Stream consumers, one line each.
TASKS = [AlertStoreTask, LogMiningTask, LogIncidentTask, AlertIncidentTask, EnrichmentTask, IncidentMemoryTask,
         MetricsWriterTask, AnomalyTask,
         IncidentAutomationTask, AlertAutomationTask, ApprovedRunTask, NotificationTask, AlertArchiveTask, LogArchiveTask,
         ReplayTask, PipelineRunTask]
# Periodic tasks (not stream consumers), one line each.
PERIODIC = [ForecastTask, RetentionTask, RunSweepTask, NotificationFlushTask, ArchiveRetentionTask,
            ProducerManager, PipelineAnalysisTask]
# Producers, one line each; each reads its own settings and says when they switch it on (all off unless configured).
PRODUCERS = [SyslogProducer, FileTailProducer, SnmpTrapProducer]


def build_tasks(ctx: WorkerContext) -> list[Task]:
    settings, role = ctx.settings, ctx.settings.worker_role
    tasks: list[Task] = [task(ctx) for task in [*TASKS, *PERIODIC] if runs_here(task, role)]
    for producer in PRODUCERS:
        producer_settings = producer.settings_model()
        if producer.enabled(producer_settings) and runs_here(producer, role):
            tasks.append(producer(ctx, producer_settings))
    return [HeartbeatTask(ctx.redis, settings), *tasks]


def runs_here(task: type, role: str) -> bool:
    """`scaled` workers (any number of replicas) run the tasks whose class says `scales_out`; the one
    `single` worker runs the rest, whose state (miner, detectors, offsets, aggregation) allows one copy. Tasks
    that share their work out by leases (`runs_everywhere`: the polled sources) run on every worker."""
    if role == "all" or getattr(task, "runs_everywhere", False):
        return True
    return (role == "scaled") == getattr(task, "scales_out", False)


async def serve(settings: WorkerSettings) -> None:
    engine = make_engine(settings)
    redis = Redis.from_url(settings.redis_url)
    influx = InfluxClient(settings)
    ctx = WorkerContext(settings=settings, redis=redis, sessions=make_sessionmaker(engine), influx=influx)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", extra={"worker": settings.worker_name})
    try:
        await install_rules(ctx.sessions, settings.automations_path)  # a bad automations.yml stops the start
        await install_receivers(ctx.sessions, load_routing(settings.notifications_path))  # and a bad notifications.yml
        await install_topology(ctx.sessions, settings.topology_path)  # and a bad topology file
        freeze_heap()
        await Supervisor(build_tasks(ctx), stop, settings.shutdown_grace_s).run()
    finally:
        await influx.aclose()
        await redis.aclose()
        await engine.dispose()


def main() -> None:
    settings = WorkerSettings()
    configure_logging("worker", settings.log_level)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    tracer_provider = configure_tracing("worker", settings)
    try:
        asyncio.run(serve(settings))
    finally:
        shutdown_tracing(tracer_provider)


if __name__ == "__main__":
    main()
