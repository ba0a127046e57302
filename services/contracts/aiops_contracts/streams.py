"""Every Redis name the services share: streams, consumer groups, dead-letter streams and channels.

Streams are named `aiops:<domain>:<stage>`; the dead-letter stream of a stream is `<stream>:dead`.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    name: str
    maxlen: int  # approximate MAXLEN for XADD trimming

    @property
    def dead_letter(self) -> str:
        return f"{self.name}:dead"


# Alerts pushed by webhooks (generic, Alertmanager, Sentry) and by the worker's own detectors.
ALERTS_INGESTED = StreamSpec("aiops:alerts:ingested", maxlen=1_000_000)
# Alerts after they are stored in PostgreSQL: read by the incident aggregator and enrichers.
ALERTS_STORED = StreamSpec("aiops:alerts:stored", maxlen=200_000)
# Metric batches (line protocol) bound for InfluxDB.
METRICS_INGESTED = StreamSpec("aiops:metrics:ingested", maxlen=1_000_000)
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

ALL_STREAMS = (ALERTS_INGESTED, ALERTS_STORED, METRICS_INGESTED, LOGS_INGESTED, LOGS_TEMPLATED, INCIDENTS_CHANGED,
               AUTOMATIONS_APPROVED, AUTOMATIONS_RUNS)

# Default consumer group. A group is scoped to one stream, so tasks on different streams share it;
# a second task reading the same stream declares its own group.
DEFAULT_GROUP = "aiops-consumers"
# The anomaly detector reads the metrics stream beside the metrics writer, in its own group.
ANOMALY_DETECTOR_GROUP = "anomaly-detector"
# The incident aggregator reads stored alerts in its own group (enrichers may read them beside it).
INCIDENT_AGGREGATOR_GROUP = "incident-aggregator"
# The enrichment task reads incident changes in its own group (it only records what is due, then acks).
INCIDENT_ENRICHER_GROUP = "incident-enricher"
# Automations read incident changes and stored alerts in their own group; notifications likewise.
AUTOMATIONS_GROUP = "automations"
NOTIFICATIONS_GROUP = "notifications"

# Pub/sub channel every API replica subscribes to and fans out to its WebSocket clients.
LIVE_CHANNEL = "aiops:live"

# Worker heartbeat key (refreshed with a TTL; `python -m aiops_worker.runtime.health` checks it).
WORKER_HEARTBEAT_KEY = "aiops:worker:heartbeat"

# Anomaly detector state per metric series (hash: series id -> compressed state), kept across restarts.
ANOMALY_DETECTORS_KEY = "aiops:anomalies:detectors"

# Offsets of the file tail producer (hash: `<path>:<inode>` -> byte offset).
FILE_TAIL_OFFSETS_KEY = "aiops:logs:file-tail:offsets"

# LLM calls (aiops_contracts/llm): tokens spent per hour by every replica (`<key>:<epoch hour>`), and answers
# cached per purpose and template/prototype key (`<key>:<purpose>:<sha256>`).
LLM_TOKENS_KEY = "aiops:llm:tokens"
LLM_CACHE_KEY = "aiops:llm:cache"
