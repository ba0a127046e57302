"""Worker settings: CommonSettings plus what only the worker needs."""

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from aiops_contracts.influx import quote_ident
from aiops_contracts.outbound import check_outbound_url
from aiops_contracts.settings import CommonSettings


class CapacityRule(BaseModel):
    """A capacity metric to forecast: series of `measurement`.`field` (optionally only those with `tags`),
    and the limit whose crossing is predicted. `below` rules watch a value falling (e.g. idle CPU)."""

    name: str  # shown in alert titles: "disk", "memory"
    measurement: str
    field: str
    threshold: float | None = None  # no threshold: forecast only
    direction: Literal["above", "below"] = "above"
    tags: dict[str, str] = Field(default_factory=dict)
    detail_tag: str | None = None  # tag naming the instance in titles, e.g. a disk's `path`

    @model_validator(mode="after")
    def _identifiers(self) -> "CapacityRule":
        """They become InfluxQL identifiers: refuse bad ones at start rather than at the first query."""
        for name in (self.measurement, self.field, *self.tags):
            quote_ident(name)
        return self


def default_capacity_rules() -> list[CapacityRule]:
    return [
        CapacityRule(name="disk", measurement="disk", field="used_percent", threshold=95.0, detail_tag="path"),
        CapacityRule(name="memory", measurement="mem", field="used_percent", threshold=95.0),
        CapacityRule(name="cpu", measurement="cpu", field="usage_idle", threshold=5.0, direction="below",
                     tags={"cpu": "cpu-total"}),
    ]


class WorkerSettings(CommonSettings):
    # Consumer name inside each group. Stable across restarts of the same host, so a restarted worker
    # picks up its own pending entries at once; other workers take them over after stream_claim_idle_ms.
    worker_name: str = Field(default_factory=socket.gethostname)
    worker_metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape it
    worker_metrics_port: int = 9101  # Prometheus /metrics of the worker; 0 turns it off
    heartbeat_interval_s: float = 5.0
    # Which tasks this process runs: "all" (one worker does everything), or, to scale out, N replicas with
    # "scaled" (stateless stream consumers) plus exactly one with "single" (the tasks keeping state in memory).
    worker_role: Literal["all", "scaled", "single"] = "all"
    shutdown_grace_s: float = 20.0  # time the current batches get to finish after SIGTERM
    # Idempotency ledger rows (runtime/retention.py) are deleted after this long, as are sign-ins whose
    # refresh tokens all expired or were revoked that long ago. Must outlast redeliveries (checked below).
    processed_events_retention_s: float = Field(default=7 * 86_400, gt=0)
    # Archive of accepted alerts, logs and errors, for dry-run replays (archive/): compressed batches in
    # PostgreSQL (`archive_batches`) or as files under archive_path; pruned after archive_retention_s.
    archive_backend: Literal["postgres", "filesystem"] = "postgres"
    archive_path: str = ""  # the folder of the filesystem backend (required with it)
    archive_retention_s: float = Field(default=14 * 86_400, gt=0)
    # Bounds of one dry-run replay (replay/): alert envelopes, log lines and metric points read, and run time
    replay_max_events: int = Field(default=200_000, ge=1)
    replay_timeout_s: float = Field(default=300.0, gt=0)
    # A snapshot replay warms its detectors on the metrics of this long before the range (bounded by the event limit)
    replay_warmup_s: float = Field(default=6 * 3600.0, gt=0, le=7 * 86_400)

    # Metrics writer (metrics/task.py)
    # Lines per InfluxDB /write request: InfluxDB spends ~10 % less CPU per line on 20,000 than on 10,000 (its cost per
    # request), and the writer ~0.08 µs less (scripts/bench/ingest_metrics.py)
    influx_write_lines: int = Field(default=20_000, ge=1)
    # /write requests in flight per writer; above 1 the stream's order is not kept (two writes of one point, in a batch
    # or in two batches in flight together, may end with the older value): 1 where a source rewrites its points within
    # seconds (one batch at a time then). 2 keeps InfluxDB's 2 cores
    # busy now that the next batch's bodies wait beside the current one's (metrics/task.py), and costs it less CPU
    # per line than more: 1-13 % less in every interleaved round on a private InfluxDB (direct /write at 2 vs 3, the
    # writer at 2 vs 4; ingest_metrics.py's payload, load 2-5)
    influx_write_concurrency: int = Field(default=2, ge=1)
    influx_retention_days: int = Field(default=90, ge=1)  # the default retention policy created at start

    # Metric anomaly detection (anomalies/task.py)
    anomaly_max_series: int = Field(default=2_000, ge=1)  # detectors in memory (~250 KiB each); the rest in Redis
    anomaly_state_flush_s: float = Field(default=60.0, gt=0)  # how often changed detector state is saved
    # State of a series not saved for this long (no new point) leaves Redis: series come and go with pods and
    # containers. Two weeks outlast the detectors' longest season (a week) and their history (8 days at 5 minutes).
    anomaly_state_max_age_days: float = Field(default=14.0, gt=0)
    anomaly_score_keep: float = Field(default=0.5, ge=0, le=1)  # scores from here up go to InfluxDB
    # An anomaly becomes an alert only when its point deviates this many robust sigmas (3 = severity low).
    anomaly_alert_min_z: float = Field(default=3.0, ge=0)
    # ... and its tail probability (per point, calibrated on the series' own history) is at most 10**this:
    # -5 is one chance alert per 100,000 points of noise (scripts/bench/false_alarms.py).
    anomaly_alert_max_log10_p: float = Field(default=-5.0, le=0)
    # CI/CD pipelines (pipelines/): builds the detectors replay per run, failed builds in a row that make the
    # build-failure alert high, and how often the health scores, forecasts and root causes are computed again
    pipelines_detection_builds: int = Field(default=400, ge=50)
    pipelines_alert_high_after: int = Field(default=3, ge=1)
    pipelines_analysis_interval_s: float = Field(default=3600.0, gt=0)
    # Capacity forecasting (forecasts/task.py)
    forecast_interval_s: float = Field(default=900.0, gt=0)
    forecast_history_days: int = Field(default=30, ge=2, le=365)  # hourly means over at most this much
    forecast_horizon_days: float = Field(default=7.0, gt=0, le=90)  # forecasts and alerts look this far
    # Series forecast per run, most urgent kept; each costs backtests (and Prophet) within forecast_interval_s.
    forecast_max_series: int = Field(default=1_000, ge=1, le=10_000)
    forecast_reselect_hours: float = Field(default=24.0, gt=0)  # a series' model is chosen again this often
    forecast_capacity_rules: list[CapacityRule] = Field(default_factory=default_capacity_rules)

    # Log intelligence (logs/task.py)
    log_rules_path: str = ""  # failure rules YAML; empty: the bundled aiops_worker/logs/rules.yml
    log_prototype_threshold: float = Field(default=0.5, gt=0, le=2)  # cosine distance to join a prototype
    log_embed_inline_max: int = Field(default=32, ge=0)  # new templates embedded per batch; the rest wait
    log_cluster_interval_s: float = Field(default=30.0, gt=0)  # pass over templates still without prototype
    log_trend_bucket_s: int = Field(default=300, ge=60)  # width of the per-template count buckets
    # off: no model, no ChromaDB: templates stay unassigned, resolved incidents are not embedded or compared
    log_embeddings_enabled: bool = True
    # Work caps of the template miner per line (mining.MinerLimits); a line over the comparison budget
    # goes to the dead-letter stream on its own.
    log_max_line_chars: int = Field(default=4096, ge=64)  # the rest of a longer line is not mined
    log_max_token_chars: int = Field(default=256, ge=8)  # a longer token is a variable as a whole
    log_max_candidates: int = Field(default=500, ge=1)  # newest templates of a shape examined per line
    log_line_max_comparisons: int = Field(default=200_000, ge=1)  # token comparisons per line, at most
    # Template ids the miner keeps (memory and saved state), live and merged ones together; past it the oldest
    # merged id is forgotten, else the least recently matched template. At most logs.bound._EVICTED_MEMO: one line
    # may forget every id held (a root takes its group), and each must be recorded for the batch
    log_max_templates: int = Field(default=50_000, ge=1, le=100_000)
    # Incidents from log events and stored alerts (incidents/task.py)
    incident_window_s: float = Field(default=5.0, gt=0)  # quiet time that ends an incident's burst
    # The same for alert incidents: alerts come at evaluation / group intervals (minutes), not in bursts.
    incident_alert_window_s: float = Field(default=600.0, gt=0)
    incident_reopen_s: float = Field(default=3600.0, ge=0)  # an event this soon after resolution reopens
    # Signals of different keys join one incident when related on the topology and within this of its span
    # (both sides); 0 turns cross-signal correlation off.
    incident_correlation_window_s: float = Field(default=600.0, ge=0)
    incident_sample_limit: int = Field(default=20, ge=1)  # raw sample lines kept per incident
    topology_path: str = ""  # declared topology YAML (incidents/topology.example.yml); empty: none
    # Learned `runs_on` edges the topology table holds at most (incidents/learning.py): names come from clients'
    # tags, programs and labels, so new ones past this are not stored (counted, logged once).
    topology_max_learned_edges: int = Field(default=50_000, ge=0)
    # Automations (automations/task.py): rules, playbooks and the guards every run passes
    automations_path: str = ""  # automations.yml; empty: the bundled examples (aiops_worker/automations/)
    automations_playbooks_dir: str = ""  # empty: the bundled playbooks (aiops_worker/automations/playbooks/)
    automations_run_dir: str = ""  # where each run gets its temporary ansible-runner directory; empty: system temp
    automations_connection: str = "ssh"  # ansible_connection for inventory hosts ("local" runs on this machine)
    # Host-name globs playbooks may run on (["web-*.prod.example.com", "db-1"]): an inventory holds fleet hosts
    # (metrics in InfluxDB) that match one, never a name only a metrics writer or an alert made up (anchor them to
    # your domains: web-* also matches web-9.attacker.example); empty: playbooks run nowhere
    automations_hosts: list[str] = Field(default_factory=list)
    automations_max_concurrent: int = Field(default=4, ge=1)  # runs at once over all rules
    # A running run's lease: its action's timeout plus this; past it (its worker died) the run is `interrupted`
    automations_lease_margin_s: float = Field(default=60.0, ge=0)
    automations_sweep_s: float = Field(default=10.0, gt=0)  # how often such runs and expired approvals are marked
    # An approved run no worker started this long after its approval is announced again (the API's announcement
    # may have been lost), and again every this often until one does; a run starts once however many arrive
    automations_approved_retry_s: float = Field(default=60.0, gt=0)
    # Outbound calls (webhook actions, notifications) may reach private addresses only when listed here.
    outbound_allowed_hosts: list[str] = Field(default_factory=list)
    # Notifications (notifications/task.py): receivers and routes; empty: nobody is notified
    notifications_path: str = ""
    notification_timeout_s: float = Field(default=10.0, gt=0)
    notifications_flush_s: float = Field(default=1.0, gt=0)  # how often due notification groups are told
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "aiops@localhost"
    smtp_username: str = ""  # set: STARTTLS and login with SMTP_PASSWORD
    smtp_password: SecretStr = SecretStr("")
    pagerduty_routing_keys: dict[str, SecretStr] = Field(default_factory=dict)  # receiver name -> Events v2 key
    # Integrations of automation actions (automations/integrations.py): base URLs and secrets both here, never in
    # a rule (a rule's URL would receive the credentials); an unset URL fails that kind's runs with its name
    awx_url: str = ""  # e.g. https://awx.example.com
    tfc_url: str = "https://app.terraform.io"  # Terraform Enterprise: its own address
    servicenow_url: str = ""  # e.g. https://example.service-now.com
    awx_token: SecretStr = SecretStr("")  # OAuth2 token of an AWX / Ansible Tower user
    tfc_token: SecretStr = SecretStr("")  # Terraform Cloud team or user API token
    servicenow_username: str = ""
    servicenow_password: SecretStr = SecretStr("")
    integration_poll_s: float = Field(default=5.0, gt=0)  # how often a launched AWX job or Terraform run is read
    # Log producers (syslog, file tail): their own settings, aiops_worker/producers/settings.py
    # Polled sources (producers/manager.py): the sources table is read, and leases renewed, every reconcile_s;
    # a dead replica's sources are taken over within lease_s + reconcile_s.
    poller_reconcile_s: float = Field(default=5.0, gt=0)
    poller_lease_s: float = Field(default=15.0, gt=0)
    # Polls in flight at once on this replica: more only adds bursts (SNMP answers dropped by a busy host's UDP
    # buffers); 50 polls of ~0.1 s each keep up with thousands of sources a minute.
    poller_max_concurrent: int = Field(default=50, ge=1)
    poller_max_backoff_s: float = Field(default=600.0, gt=0)  # a failing source is retried at least this often
    # Opens the polled sources' credentials (sealed by the API with the same key); or read from the file.
    secrets_key: SecretStr = SecretStr("")
    secrets_key_file: Path | None = None
    # The API's address as the devices of polled sources reach it: a Redfish BMC pushes its events there. Unset
    # or a loopback address (each device's own): no device is asked to push (producers/manager.py).
    public_url: str = ""
    # Incident enrichment (enrichment/task.py; the LLM itself: LLM_* in CommonSettings)
    enrichment_interval_s: float = Field(default=5.0, gt=0)  # how often due enrichments are looked for
    enrichment_debounce_s: float = Field(default=30.0, ge=0)  # an update waits this long (opened: none)
    enrichment_max_attempts: int = Field(default=8, ge=1)  # LLM attempts (back-off 30 s doubling to 1 h)

    @field_validator("awx_url", "tfc_url", "servicenow_url", "public_url")
    @classmethod
    def _platform_outbound(cls, value: str) -> str:
        return check_outbound_url(value) if value else value

    @model_validator(mode="after")
    def _archive_path_given(self) -> "WorkerSettings":
        if self.archive_backend == "filesystem" and not self.archive_path:
            raise ValueError("archive_path: ARCHIVE_BACKEND=filesystem needs ARCHIVE_PATH")
        return self

    @model_validator(mode="after")
    def _secrets_key_from_file(self) -> "WorkerSettings":
        if self.secrets_key_file and not self.secrets_key.get_secret_value():
            self.secrets_key = SecretStr(self.secrets_key_file.read_text().strip())
        return self

    @model_validator(mode="after")
    def _lease_outlasts_reconcile(self) -> "WorkerSettings":
        if self.poller_lease_s <= self.poller_reconcile_s:
            raise ValueError("poller_lease_s must exceed poller_reconcile_s (leases are renewed each reconcile)")
        return self

    @model_validator(mode="after")
    def _ledger_outlasts_redeliveries(self) -> "WorkerSettings":
        """An entry can be delivered again for stream_claim_idle_ms × stream_max_deliveries: an event
        forgotten by the ledger before that would be handled twice."""
        window_s = self.stream_claim_idle_ms * self.stream_max_deliveries / 1000
        if self.processed_events_retention_s <= window_s:
            raise ValueError(f"processed_events_retention_s must exceed the redelivery window ({window_s:g} s)")
        return self
