"""The guards a triggered rule passes before it runs: maintenance windows, cooldown per rule and target, the
maximum of concurrent runs, and approval for destructive rules and critical incidents (no auto-remediation on
critical). An approved run passes them again when it is about to start (a window may have opened, another
run may hold the target), less the approval itself. Pure: the task reads the recent runs and records the
decision with its reason."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from aiops_contracts.automations import RuleSpec, RunStatus
from aiops_contracts.events import Severity
from aiops_worker.automations.matching import TriggerEvent


@dataclass(frozen=True)
class RecentRuns:
    last_at: datetime | None  # the latest run (or approval request) of this rule for this target
    running_rule: int  # runs of this rule in progress
    running_total: int  # runs of every rule in progress


@dataclass(frozen=True)
class Decision:
    status: RunStatus  # running, skipped or awaiting_approval
    reason: str


def decide(rule: RuleSpec, event: TriggerEvent, now: datetime, recent: RecentRuns, max_total: int,
           approved: bool = False) -> Decision:
    guards = rule.guards
    for window in guards.maintenance:
        in_scope = not window.hosts or any(fnmatchcase(event.target, h) for h in window.hosts)
        if in_scope and window.start <= now < window.end:
            return Decision(RunStatus.skipped, f"maintenance window until {window.end.isoformat()}")
    if recent.last_at is not None and now - recent.last_at < timedelta(seconds=guards.cooldown_s):
        return Decision(RunStatus.skipped, f"cooldown: ran for {event.target} at {recent.last_at.isoformat()}")
    if guards.destructive and not approved:
        return Decision(RunStatus.awaiting_approval, "destructive rule: an operator approves each run")
    if event.severity == Severity.critical and not approved:
        return Decision(RunStatus.awaiting_approval, "critical severity: no automatic remediation")
    if recent.running_rule >= guards.max_concurrent:
        return Decision(RunStatus.skipped, f"max concurrent runs of the rule ({guards.max_concurrent}) reached")
    if recent.running_total >= max_total:
        return Decision(RunStatus.skipped, f"max concurrent runs ({max_total}) reached")
    return Decision(RunStatus.running, "dry run (--check)" if guards.dry_run else "guards passed")
