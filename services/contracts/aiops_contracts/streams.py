"""Every Redis name the services share: streams, consumer groups, dead-letter streams and channels.

Streams are named `aiops:<domain>:<stage>`; the dead-letter stream of a stream is `<stream>:dead`.

These are names, not keys: every one is used under BUS_PREFIX, streams and the live channel through the Bus
(Bus.key), every other key through CommonSettings.redis_key, as are the keys other modules name (the API's rate
limiter, user cache, WebSocket slots and Sentry hook deliveries; Redfish pushes). All of them hold one deployment's
state, so none is left global: a test run or a second deployment sharing a Redis would otherwise take another's
leases, heartbeats, token budget or cached answers (those name templates by their database id).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    name: str
    maxlen: int  # approximate MAXLEN for XADD trimming
    # Entries a consumer reads at once at most, below STREAM_BATCH_SIZE, where an entry holds many records
    max_read: int | None = None

    @property
    def dead_letter(self) -> str:
        return f"{self.name}:dead"


# Alerts pushed by webhooks (generic, Alertmanager, Sentry) and by the worker's own detectors.
ALERTS_INGESTED = StreamSpec("aiops:alerts:ingested", maxlen=1_000_000)
# Alerts after they are stored in PostgreSQL: read by the incident aggregator and enrichers.
ALERTS_STORED = StreamSpec("aiops:alerts:stored", maxlen=200_000)
# Metric batches (line protocol) bound for InfluxDB. An entry holds up to METRICS_LINES_PER_EVENT lines (1,000): a
# read of 50 is ~6 MB (a read of STREAM_BATCH_SIZE's 500 held half a million points in the anomaly task's memory).
METRICS_INGESTED = StreamSpec("aiops:metrics:ingested", maxlen=1_000_000, max_read=50)
# Raw log lines bound for template mining.
LOGS_INGESTED = StreamSpec("aiops:logs:ingested", maxlen=1_000_000)
# Error-ish log lines after templating (`log.templated`): read by the incident aggregator.
LOGS_TEMPLATED = StreamSpec("aiops:logs:templated", maxlen=200_000)
# Incident changes (opened, updated, resolved).
INCIDENTS_CHANGED = StreamSpec("aiops:incidents:changed", maxlen=100_000)
# Runs an operator approved through the API, for the worker to start (`automation.run_changed`).
AUTOMATIONS_APPROVED = StreamSpec("aiops:automations:approved", maxlen=10_000)
# Every automation decision and result (`automation.run_changed`), also on the live channel.
AUTOMATIONS_RUNS = StreamSpec("aiops:automations:runs", maxlen=100_000)
# Dry-run replays an admin started (`replay.requested`), for the worker's replay task.
REPLAY_REQUESTED = StreamSpec("aiops:replay:requested", maxlen=10_000)
# CI/CD runs (`pipeline.run_received`) from the GitHub webhook and the GitHub Actions and Jenkins pollers.
PIPELINES_RUNS = StreamSpec("aiops:pipelines:runs", maxlen=200_000)

ALL_STREAMS = (ALERTS_INGESTED, ALERTS_STORED, METRICS_INGESTED, LOGS_INGESTED, LOGS_TEMPLATED, INCIDENTS_CHANGED,
               AUTOMATIONS_APPROVED, AUTOMATIONS_RUNS, REPLAY_REQUESTED, PIPELINES_RUNS)

# Consumer groups are named after the worker task that reads with them (StreamConsumer.name), so every task
# gets every entry of its stream whoever else reads it. Earlier releases named them otherwise; a task whose
# group was renamed declares the old name as `former_group` and takes it over at start (Bus.rename_group).
# The group the alert store, log mining, log incidents and metrics writer shared (one per stream).
FORMER_SHARED_GROUP = "aiops-consumers"
# The group of the incident task on stored alerts, now `incidents-alerts`.
FORMER_AGGREGATOR_GROUP = "incident-aggregator"

# Pub/sub channel every API replica subscribes to and fans out to its WebSocket clients.
LIVE_CHANNEL = "aiops:live"

# Worker heartbeat key (refreshed with a TTL; `python -m aiops_worker.runtime.health` checks it).
WORKER_HEARTBEAT_KEY = "aiops:worker:heartbeat"

# Anomaly detector state per metric series (hash: series id -> compressed state), kept across restarts, and when
# each series' state was last saved (sorted set `<key>:saved`: series id -> epoch seconds), by which state not saved
# for `anomaly_state_max_age_days` is pruned.
ANOMALY_DETECTORS_KEY = "aiops:anomalies:detectors"

# Polled sources (aiops_worker/producers/manager.py): the lease a worker holds on a source while it polls it
# (`<key>:<source id>` = worker name, with a TTL), each source's health (hash `<key>:<source id>`: last success,
# last error, duration, points), and the list the API pushes connection tests on (each names its reply list
# and when it expires; the list keeps the newest POLLER_CHECKS_MAX and is dropped once nobody uses it; its key is
# Bus.poller_checks_key).
POLLER_LEASE_KEY = "aiops:sources:lease"
POLLER_HEALTH_KEY = "aiops:sources:health"
POLLER_CHECKS_KEY = "aiops:sources:checks"
POLLER_CHECKS_MAX = 100

# Offsets of the file tail producer (hash: `<path>:<inode>` -> byte offset).
FILE_TAIL_OFFSETS_KEY = "aiops:logs:file-tail:offsets"

# LLM calls (aiops_contracts/llm): tokens spent per hour by every replica (`<key>:<epoch hour>`), and answers
# cached per purpose and template/prototype key (`<key>:<purpose>:<sha256>`).
LLM_TOKENS_KEY = "aiops:llm:tokens"
LLM_CACHE_KEY = "aiops:llm:cache"
