"""WORKER_ROLE splits the tasks: stateless consumers scale out, tasks with in-memory state run once."""

from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.anomalies.task import AnomalyTask
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.main import PERIODIC, PRODUCERS, TASKS, runs_here
from aiops_worker.metrics.task import MetricsWriterTask
from aiops_worker.producers.manager import ProducerManager


def test_every_task_runs_on_exactly_one_of_scaled_and_single() -> None:
    for task in [*TASKS, *PERIODIC, *PRODUCERS]:
        assert runs_here(task, "all")
        if task is ProducerManager:  # shares the polled sources out by leases: on every worker
            assert runs_here(task, "scaled") and runs_here(task, "single")
            continue
        assert runs_here(task, "scaled") != runs_here(task, "single"), task


def test_stateful_tasks_never_scale_out() -> None:
    assert {t for t in TASKS if runs_here(t, "scaled")} >= {AlertStoreTask, MetricsWriterTask}
    for stateful in (LogMiningTask, AnomalyTask, *[t for t in PERIODIC if t is not ProducerManager], *PRODUCERS):
        assert not runs_here(stateful, "scaled"), stateful
