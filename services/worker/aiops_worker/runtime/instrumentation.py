"""Prometheus metrics of the worker runtime."""

from prometheus_client import Counter, Histogram

ENTRIES_HANDLED = Counter("aiops_worker_entries_handled_total", "Stream entries handled and acked", ["stream", "group"])
ENTRIES_FAILED = Counter("aiops_worker_entries_failed_total", "Stream entry handling failures", ["stream", "group"])
ENTRIES_DEAD = Counter("aiops_worker_entries_dead_lettered_total", "Entries moved to a dead-letter stream", ["stream"])
ENTRIES_RECLAIMED = Counter("aiops_worker_entries_reclaimed_total", "Idle entries taken over", ["stream", "group"])
STORE_UNAVAILABLE = Counter("aiops_worker_store_unavailable_total", "Batches retried because a store was down", ["task"])
BATCH_SECONDS = Histogram("aiops_worker_batch_seconds", "Time to handle one batch", ["task"])
EVENT_LATENCY = Histogram(
    "aiops_worker_event_latency_seconds",
    "From event time to handled",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TASK_RESTARTS = Counter("aiops_worker_task_restarts_total", "Supervised task crashes", ["task"])
