"""Automation rules (a trigger, an action, guards), run states, and whether a rule matches an event: one
definition for the worker, which loads `automations.yml` and runs them, and the API, where admins create and edit
them, operators approve runs and the chat proposes the rules that match an incident (it runs none)."""

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from aiops_contracts.events import Severity
from aiops_contracts.strict import Strict

RULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
AUTOMATION_RUN_CHANGED = "automation.run_changed"
# Actions that carry the worker's credentials: the platform's base URL is this worker setting, never the rule's.
PLATFORM_URL_SETTINGS = {"awx": "AWX_URL", "terraform": "TFC_URL", "servicenow": "SERVICENOW_URL"}

# A DNS name or an IPv4 address: labels of letters, digits, "-" and "_", never starting with "-" (which ssh or
# ansible could read as an option), dot-separated.
HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*")
# A plain name: letters, digits, ".", "_", "-"; no "..", "/" or whitespace, and not starting with "-" or ".".
_NAME = re.compile(r"(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The facts of the triggering event a string extra var may name as "{name}", each with the pattern its value must
# match and what that is: the worker fills them in (placeholders.py), the API refuses a rule naming another fact (UNFILLED).
FILLABLE = {
    "host": (HOST_NAME, "a host name"),
    "service": (_NAME, "a plain name (letters, digits, . _ -; no '..', '/' or spaces; not starting with - or .)"),
    "incident_id": (_ID, "an id"),
    "alert_id": (_ID, "an id"),
    "severity": (_NAME, "a plain name"),
    "kind": (_NAME, "a plain name"),
}
# A "{name}"; one inside "{{...}}" (Jinja) or "${...}" (a shell variable) is not a placeholder and stays as written.
PLACEHOLDER = re.compile(r"(?<![{$])\{([A-Za-z_]+)\}(?!\})")


class TriggerKind(StrEnum):
    incident_opened = "incident.opened"
    incident_updated = "incident.updated"
    anomaly = "anomaly"  # an alert raised by the anomaly detector
    prediction = "prediction"  # an alert raised by the capacity forecast (predicted exhaustion)


class Trigger(Strict):
    """Every condition given must hold; lists mean any of them. Host and service patterns are shell globs."""

    events: list[TriggerKind] = Field(min_length=1)  # not `on`: YAML 1.1 reads that key as true
    severity: list[Severity] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)  # exact label values (anomaly and prediction alerts)
    title_contains: str | None = None  # e.g. a template or prototype text
    measurement: str | None = None
    field: str | None = None
    value_above: float | None = None  # the alert's observed value (details.value or details.last_value)
    exhausts_within_h: float | None = Field(default=None, gt=0)  # predicted exhaustion sooner than this


class Action(Strict):
    """ansible: a playbook run here; webhook: a JSON POST; awx: launch a job template of AWX/Ansible Tower;
    terraform: a run of a Terraform Cloud workspace; servicenow: a ServiceNow incident. Those three are called
    with the worker's credentials (AWX_TOKEN, TFC_TOKEN, SERVICENOW_USERNAME/PASSWORD), so their address is the
    worker's too (PLATFORM_URL_SETTINGS), never a rule's: a rule naming a host could send them anywhere."""

    kind: Literal["ansible", "webhook", "awx", "terraform", "servicenow"] = "ansible"
    playbook: str | None = None  # a file name in the playbooks directory
    hosts: list[str] = Field(default_factory=list)  # playbook inventory: globs over the fleet; empty: the event's host
    # "{host}", "{service}"... (FILLABLE) filled from the event when well formed, else the run fails (worker:
    # placeholders.py); the API refuses a rule naming another fact (UNFILLED, AutomationRuleWrite)
    extra_vars: dict[str, Any] = Field(default_factory=dict)
    url: str | None = None  # webhook target (the only kind that takes one)
    template_id: int | None = Field(default=None, ge=1)  # AWX job template
    workspace_id: str | None = Field(default=None, pattern=r"^ws-[A-Za-z0-9]+$")  # Terraform Cloud workspace
    timeout_s: float = Field(default=300, gt=0, le=3600)

    @model_validator(mode="after")
    def _target_given(self) -> "Action":
        if self.url is not None and self.kind in PLATFORM_URL_SETTINGS:
            raise ValueError(f"a {self.kind} action takes no url: the worker calls the platform at its "
                             f"{PLATFORM_URL_SETTINGS[self.kind]} setting, with its credentials")
        needs = {"ansible": ("playbook",), "webhook": ("url",), "awx": ("template_id",),
                 "terraform": ("workspace_id",), "servicenow": ()}[self.kind]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} action needs {' and '.join(missing)}")
        return self

    @field_validator("playbook")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and ("/" in value or value.startswith(".") or not value.endswith((".yml", ".yaml"))):
            raise ValueError("playbook must be a .yml file name inside the playbooks directory")
        return value


class MaintenanceWindow(Strict):
    start: datetime
    end: datetime
    hosts: list[str] = Field(default_factory=list)  # globs; empty: every target

    @model_validator(mode="after")
    def _ordered(self) -> "MaintenanceWindow":
        if self.end <= self.start:
            raise ValueError("a maintenance window must end after it starts")
        return self


class Guards(Strict):
    cooldown_s: float = Field(default=900, ge=0)  # per rule and target
    max_concurrent: int = Field(default=1, ge=1)  # runs of this rule at once
    dry_run: bool = False  # ansible --check
    destructive: bool = False  # every run waits for an operator's approval
    approval_ttl_s: float = Field(default=3600, gt=0)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)


class RuleSpec(Strict):
    name: str = Field(pattern=RULE_NAME_PATTERN)
    description: str = Field(default="", max_length=2000)
    enabled: bool = True
    trigger: Trigger
    action: Action
    guards: Guards = Field(default_factory=Guards)
    verify_window_s: float = Field(default=900, gt=0)  # how long the symptom is watched after a successful run


class RunStatus(StrEnum):
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"
    interrupted = "interrupted"  # the worker died mid-run: waits for an operator, never re-run by itself


class RunOutcome(StrEnum):
    """What a successful run did to the symptom that triggered it (the alert or incident)."""

    watching = "watching"
    fixed = "fixed"  # the symptom cleared within the rule's verify window
    not_fixed = "not_fixed"  # still there when the window ended
    worse = "worse"  # its severity rose


class AutomationRunPayload(BaseModel):
    """`automation.run_changed`: a run's state after a decision or a result."""

    run_id: str
    rule: str
    status: RunStatus
    target: str
    reason: str = ""
    incident_id: str | None = None
    changed: int | None = None
    failed: int | None = None
    outcome: RunOutcome | None = None


@dataclass(frozen=True)
class TriggerEvent:
    key: str  # the triggering envelope's id: at most one run per rule and key
    kind: TriggerKind
    severity: str
    title: str
    host: str | None = None
    service: str | None = None
    incident_id: str | None = None
    alert_id: str | None = None  # the triggering alert (anomaly, prediction): the symptom a run is judged on
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # when the symptom was first seen (an incident), or the alert's moment

    @property
    def target(self) -> str:
        return self.host or self.service or "fleet"

    def facts(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> "TriggerEvent":
        """The event back from a run's stored facts."""
        at = facts.get("at")
        return cls(**{**facts, "kind": TriggerKind(facts["kind"]), "at": datetime.fromisoformat(at) if at else None})


# The event's facts never put in (free text such as the title, structures, the key): a placeholder naming one fails
# every run (placeholders.py), so the API refuses it; a "{name}" naming no fact stays as written.
UNFILLED = frozenset(f.name for f in fields(TriggerEvent)) - FILLABLE.keys()


def matches(trigger: Trigger, event: TriggerEvent) -> bool:
    if event.kind not in trigger.events or (trigger.severity and event.severity not in trigger.severity):
        return False
    if trigger.hosts and not _any_glob(trigger.hosts, event.host):
        return False
    if trigger.services and not _any_glob(trigger.services, event.service):
        return False
    if any(event.labels.get(k) != v for k, v in trigger.labels.items()):
        return False
    if trigger.title_contains and trigger.title_contains.lower() not in event.title.lower():
        return False
    if trigger.measurement and event.labels.get("measurement") != trigger.measurement:
        return False
    if trigger.field and event.labels.get("field") != trigger.field:
        return False
    return _value_matches(trigger, event) and _exhaustion_matches(trigger, event)


def _any_glob(patterns: list[str], value: str | None) -> bool:
    return value is not None and any(fnmatchcase(value, p) for p in patterns)


def _value_matches(trigger: Trigger, event: TriggerEvent) -> bool:
    if trigger.value_above is None:
        return True
    value = event.details.get("value", event.details.get("last_value"))
    return isinstance(value, int | float) and value > trigger.value_above


def _exhaustion_matches(trigger: Trigger, event: TriggerEvent) -> bool:
    if trigger.exhausts_within_h is None:
        return True
    exhausts_at = event.details.get("exhausts_at")
    if not exhausts_at or event.at is None:
        return False
    hours_left = (datetime.fromisoformat(exhausts_at) - event.at).total_seconds() / 3600
    return hours_left <= trigger.exhausts_within_h
