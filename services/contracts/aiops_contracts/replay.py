"""Dry-run replay: what an admin asks for (a time range and candidate changes) and the request event. One
definition for the API, which validates and records a run, and the worker, which replays the archive.

A replay runs the archived alerts, logs and errors of the range, and the metrics InfluxDB keeps for it, through
the worker's own code (log rules and miner, anomaly detectors and their alert gate, the incident aggregator,
automation rule matching) from a stated starting state (`StartingState`). It writes nothing but its run's result
(`replay_runs`)."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

from aiops_contracts.automations import RuleSpec
from aiops_contracts.events import Severity
from aiops_contracts.influx import EARLIEST_TIME
from aiops_contracts.strict import Strict

REPLAY_REQUESTED = "replay.requested"
MAX_RANGE = timedelta(days=7)  # the longest range one replay may cover
# The earliest start: the detectors' warm-up before it (the worker's REPLAY_WARMUP_S, at most 7 days) stays within
# the times InfluxDB can hold. The latest end: now, give or take a client's clock running ahead.
EARLIEST_START = EARLIEST_TIME + timedelta(days=7)
MAX_CLOCK_SKEW = timedelta(minutes=5)


class LogRuleSpec(Strict):
    """One failure rule as in the worker's rules.yml: exactly one of `template` or `pattern` (RE2)."""

    name: str = Field(min_length=1, max_length=100)
    category: str = Field(min_length=1, max_length=100)
    severity: Severity
    template: str | None = Field(default=None, max_length=2000)
    pattern: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_expression(self) -> "LogRuleSpec":
        if (self.template is None) == (self.pattern is None):
            raise ValueError("give exactly one of template or pattern")
        return self


class ReplayChanges(Strict):
    """Candidate settings; each one left out keeps the worker's current value."""

    incident_window_s: float | None = Field(default=None, gt=0, le=86_400)
    incident_alert_window_s: float | None = Field(default=None, gt=0, le=86_400)
    incident_correlation_window_s: float | None = Field(default=None, ge=0, le=86_400)
    anomaly_alert_min_z: float | None = Field(default=None, ge=0, le=100)
    anomaly_alert_max_log10_p: float | None = Field(default=None, ge=-300, le=0)
    log_rules: list[LogRuleSpec] | None = Field(default=None, max_length=500)  # replaces the whole rules file
    automation_rules: list[RuleSpec] | None = Field(default=None, max_length=500)  # replaces the enabled rules


class StartingState(StrEnum):
    """What the replay starts from. `fresh`: an empty miner, cold detectors, no incidents. `snapshot`: the miner
    seeded with the templates (and their prototypes) known at the range's start, the detectors warmed on the
    metrics of the REPLAY_WARMUP_S before it, and as the aggregator's own the incidents open at the start and those
    resolved shortly before it (within the reopen or correlation window), which an event may still reopen or
    correlate into."""

    fresh = "fresh"
    snapshot = "snapshot"


class ReplayParams(Strict):
    start: datetime
    end: datetime
    changes: ReplayChanges = Field(default_factory=ReplayChanges)
    metrics: bool = True  # replay the range's metrics from InfluxDB through fresh detectors
    starting_state: StartingState = StartingState.fresh

    @model_validator(mode="after")
    def _bounded_range(self) -> "ReplayParams":
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_RANGE:
            raise ValueError(f"the range may cover at most {MAX_RANGE.days} days")
        return self


class ReplayRequest(ReplayParams):
    """A new run's params (POST /api/v1/replay): its range also within the times InfluxDB can hold, and not in the
    future. Only a request is held to these: a stored run (ReplayParams) is read as it was stored, whenever."""

    @field_validator("start", "end")
    @classmethod
    def _within_the_stores(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value  # said by _bounded_range
        if value < EARLIEST_START:
            raise ValueError(f"must be on or after {EARLIEST_START:%Y-%m-%d} (the times InfluxDB can hold)")
        if value > datetime.now(UTC) + MAX_CLOCK_SKEW:
            raise ValueError("must not be in the future (a replay runs what was archived)")
        return value


class ReplayStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class ReplayRequestedPayload(BaseModel):
    """`replay.requested`: the run the worker replays (its params are in `replay_runs`)."""

    run_id: str
