"""API models of automations: rules (the shared RuleSpec plus where it came from) and runs."""

import uuid
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aiops_api.auth.tokens import Role
from aiops_contracts.automations import FILLABLE, PLACEHOLDER, UNFILLED, Action, RuleSpec, RunOutcome, RunStatus
from aiops_contracts.outbound import redacted


class AutomationRuleWrite(RuleSpec):
    """A rule as an admin creates or replaces it: a string extra var naming a fact of the event the worker never
    puts in (UNFILLED: "{title}", free text) is refused here rather than failing every run; a "{name}" naming no
    fact (or Jinja, or a shell variable) stays as written, as in the worker. Rules already stored, or in
    automations.yml, still load (the worker checks those when it runs them)."""

    @field_validator("action")
    @classmethod
    def _fillable_placeholders(cls, action: Action) -> Action:
        for key, value in action.extra_vars.items():
            names = PLACEHOLDER.findall(value) if isinstance(value, str) else []
            for name in (n for n in names if n in UNFILLED):
                fillable = ", ".join(f"{{{n}}}" for n in FILLABLE)
                raise ValueError(f"extra_vars.{key}: {{{name}}} is a fact never put in; an extra var may name "
                                 f"{fillable} (the action gets the whole event as data in aiops_event)")
        return action


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
    outcome: RunOutcome | None
    mttr_s: float | None
    created_at: datetime


class AutomationRunDetail(AutomationRunRead):
    output: str
    event: dict[str, Any]
    spec: RuleSpec


WithSpec = TypeVar("WithSpec", AutomationRuleRead, AutomationRunDetail)


def shown_to(role: Role, item: WithSpec) -> WithSpec:
    """`item` as `role` may see it: admins, who edit rules, see the spec whole; the others see a webhook URL as
    scheme and host only (its path is the secret, as with notification receivers) and no extra_vars (they may
    carry tokens)."""
    if role >= Role.admin:
        return item
    action = item.spec.action
    hidden = action.model_copy(update={"url": action.url and redacted(action.url), "extra_vars": {}})
    return item.model_copy(update={"spec": item.spec.model_copy(update={"action": hidden})})


class RunDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)


class AutomationStats(BaseModel):
    """The record of a rule's action: how often it ran, and what its successful runs did to their symptom."""

    rule_name: str
    action: str  # the playbook, or the action's kind
    runs: int
    succeeded: int
    failed: int
    fixed: int
    not_fixed: int
    worse: int
    success_rate: float | None  # fixed / judged outcomes; None before any outcome is known
    mean_mttr_s: float | None


class IncidentAutomations(BaseModel):
    """An incident's automation record: its runs with their outcome and time to repair, the incident's own
    time to repair, and the playbooks with the best record on the resolved incidents most like it."""

    incident_id: uuid.UUID
    mttr_s: float | None  # from first sight to resolution, once resolved
    runs: list[AutomationRunRead]
    suggestions: list[AutomationStats]  # best record first (success rate, then fixes, then repair time)
    similar_incidents: int  # how many resolved look-alikes (found by the incident's enrichment) they come from
    note: str = ""  # why there can be no suggestion yet
