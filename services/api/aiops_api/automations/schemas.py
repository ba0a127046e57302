"""API models of automations: rules (the shared RuleSpec plus where it came from) and runs."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiops_contracts.automations import RuleSpec, RunStatus


class AutomationRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    origin: str  # file (automations.yml, read-only here) | api
    enabled: bool
    spec: RuleSpec
    created_at: datetime
    updated_at: datetime


class AutomationRuleToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class AutomationRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    rule_name: str
    trigger_key: str
    target: str
    incident_id: uuid.UUID | None
    status: RunStatus
    reason: str
    dry_run: bool
    approval_expires_at: datetime | None
    decided_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    rc: int | None
    changed: int | None
    failed: int | None
    created_at: datetime


class AutomationRunDetail(AutomationRunRead):
    output: str
    event: dict[str, Any]
    spec: RuleSpec


class RunDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)
