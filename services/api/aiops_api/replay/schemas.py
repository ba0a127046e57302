"""API models of dry-run replays: the request is the contract's ReplayRequest; a run with its result (its
ReplayParams read as stored)."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from aiops_contracts.replay import ReplayParams, ReplayStatus, StartingState


class ReplayStart(BaseModel):
    """The state the replay started from, and what it held."""

    kind: StartingState
    description: str
    templates: int  # miner templates seeded
    prototypes: int  # prototypes of those templates
    warmup_points: int  # metric points the detectors saw before the range
    incidents: int  # incidents open at the start
    resolved_incidents: int = 0  # resolved shortly before it: an event may still reopen or correlate into them


class ReplayInputs(BaseModel):
    alerts: int  # archived alert envelopes (Sentry errors included)
    log_envelopes: int
    metric_points: int  # read from InfluxDB
    skipped: int  # archived entries that no longer decode
    truncated: bool  # REPLAY_MAX_EVENTS cut the inputs


class ReplayCounts(BaseModel):
    incidents: int
    alerts: int  # firing alert events
    automations: int  # runs (would: rule matches)


class ReplayDidCounts(ReplayCounts):
    incidents_compared: int  # stored incidents holding replayed events


class ReplayDiff(BaseModel):
    created: int  # incidents that would have opened and did not
    not_created: int  # incidents that opened and would not have
    merged: int  # replayed incidents holding events of several stored ones
    split: int  # stored incidents whose events would have gone to several
    alerts_added: int
    alerts_removed: int
    automations_added: int
    automations_removed: int


class ReplayResult(BaseModel):
    starting_state: ReplayStart
    inputs: ReplayInputs
    would: ReplayCounts
    did: ReplayDidCounts
    diff: ReplayDiff
    changes: list[dict[str, Any]]  # {"change": created|not_created|merged|split|alert_added|..., ...}
    changes_truncated: bool

    @field_validator("starting_state", mode="before")
    @classmethod
    def _stated_in_words(cls, value: Any) -> Any:
        """Runs stored before the choice existed said their (fresh) starting state in words only."""
        if isinstance(value, str):
            return {"kind": StartingState.fresh, "description": value, "templates": 0, "prototypes": 0,
                    "warmup_points": 0, "incidents": 0}
        return value


class ReplayRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    requested_by: str
    status: ReplayStatus
    params: ReplayParams
    result: ReplayResult | None
    error: str
    created_at: datetime
    finished_at: datetime | None
