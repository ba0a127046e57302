"""The run ledger: one automation_runs row per (rule, trigger), so a redelivered event or a second replica finds
the row and runs nothing; a lease on running rows, so a run cut off by kill -9 is marked `interrupted` (for an
operator) instead of re-run. Every decision is audited and written on the incident's timeline."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.automations import AUTOMATION_RUN_CHANGED, AutomationRunPayload, RuleSpec, RunStatus
from aiops_contracts.db import AuditEntry, AutomationRule, AutomationRun, IncidentEvent
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import TimelineKind
from aiops_worker.automations.guards import Decision, RecentRuns, decide
from aiops_worker.automations.matching import TriggerEvent

ACTOR = "automations"
LEDGER_LOCK = "automations:ledger"  # serialises decisions, so concurrency and cooldown counts are exact
ACTIVE = (RunStatus.running, RunStatus.approved)
COOLING = (RunStatus.running, RunStatus.approved, RunStatus.awaiting_approval, RunStatus.succeeded,
           RunStatus.failed, RunStatus.interrupted)


@dataclass(frozen=True)
class Runner:
    """Who starts runs and within which limits (from the worker's settings)."""

    worker: str
    max_total: int  # runs at once over all rules
    lease_margin_s: float  # a running row's lease outlasts its action's timeout by this much


async def claim(session: AsyncSession, rule: RuleSpec, event: TriggerEvent, now: datetime,
                runner: Runner) -> AutomationRun | None:
    """The new run of `rule` for `event` with its guards' decision; None when this trigger already has one."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": LEDGER_LOCK})
    run_id = await session.scalar(insert(AutomationRun).values(
        id=uuid.uuid4(), rule_name=rule.name, trigger_key=event.key, target=event.target,
        incident_id=uuid.UUID(event.incident_id) if event.incident_id else None, status=RunStatus.skipped.value,
        reason="", dry_run=rule.guards.dry_run, worker=runner.worker, spec=rule.model_dump(mode="json"), event=event.facts(), output="",
    ).on_conflict_do_nothing().returning(AutomationRun.id))
    if run_id is None:
        return None
    decision = decide(rule, event, now, await _recent(session, rule, event, run_id), runner.max_total)
    run = await session.get_one(AutomationRun, run_id)
    if decision.status == RunStatus.awaiting_approval:
        run.approval_expires_at = now + timedelta(seconds=rule.guards.approval_ttl_s)
    record(session, run, decision, now, lease_margin_s=runner.lease_margin_s)
    return run


async def _recent(session: AsyncSession, rule: RuleSpec, event: TriggerEvent, run_id: uuid.UUID) -> RecentRuns:
    others = AutomationRun.id != run_id
    last_at = await session.scalar(select(func.max(AutomationRun.created_at)).where(
        others, AutomationRun.rule_name == rule.name, AutomationRun.target == event.target,
        AutomationRun.status.in_(COOLING)))
    counts = dict((await session.execute(
        select(AutomationRun.rule_name, func.count()).where(others, AutomationRun.status == RunStatus.running)
        .group_by(AutomationRun.rule_name))).all())
    return RecentRuns(last_at=last_at, running_rule=counts.get(rule.name, 0), running_total=sum(counts.values()))


def record(session: AsyncSession, run: AutomationRun, decision: Decision, now: datetime, *,
           lease_margin_s: float = 0.0) -> None:
    """Set the run's status and reason; audit it and put it on the incident's timeline."""
    run.status, run.reason = decision.status.value, decision.reason
    if decision.status == RunStatus.running:
        timeout_s = RuleSpec.model_validate(run.spec).action.timeout_s
        run.started_at, run.lease_until = now, now + timedelta(seconds=timeout_s + lease_margin_s)
    session.add(AuditEntry(actor=ACTOR, action=f"automation.{decision.status.value}", entity_type="automation_run",
                           entity_id=str(run.id), before=None,
                           after={"rule": run.rule_name, "target": run.target, "reason": decision.reason,
                                  "trigger": run.trigger_key, "changed": run.changed, "failed": run.failed}))
    if run.incident_id is not None:
        session.add(IncidentEvent(incident_id=run.incident_id, event_id=None, at=now, kind=TimelineKind.automation,
                                  count=0, host=run.target, template_id=None,
                                  message=f"{run.rule_name}: {decision.status.value} ({decision.reason})"[:2000]))


async def start_approved(session: AsyncSession, run_id: uuid.UUID, now: datetime, runner: Runner) -> AutomationRun | None:
    """An approved run passes its rule's current guards again (maintenance, cooldown, concurrency) and becomes
    running once (the row lock makes a second delivery find it started), or skipped with the reason."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": LEDGER_LOCK})
    run = await session.scalar(select(AutomationRun).where(AutomationRun.id == run_id).with_for_update())
    if run is None or run.status != RunStatus.approved:
        return None
    run.worker = runner.worker
    current = await session.scalar(select(AutomationRule.spec).where(AutomationRule.name == run.rule_name,
                                                                     AutomationRule.enabled.is_(True)))
    if current is None:
        decision = Decision(RunStatus.skipped, "its rule was disabled or deleted")
    else:  # the rule's guards as they are now (an admin may have added a window since the request)
        rule, event = RuleSpec.model_validate(current), TriggerEvent.from_facts(run.event)
        decision = decide(rule, event, now, await _recent(session, rule, event, run.id), runner.max_total,
                          approved=True)
    if decision.status == RunStatus.running:
        decision = Decision(RunStatus.running, f"approved by {run.decided_by}; {decision.reason}")
    else:
        decision = Decision(decision.status, f"approved by {run.decided_by}, then {decision.reason}")
    record(session, run, decision, now, lease_margin_s=runner.lease_margin_s)
    return run


INTERRUPTED = Decision(RunStatus.interrupted, "the run's lease expired: its worker stopped mid-run; "
                                              "not re-run automatically")
EXPIRED = Decision(RunStatus.expired, "nobody approved it in time")


async def sweep(session: AsyncSession, now: datetime) -> list[AutomationRun]:
    """Running rows whose lease ran out (their worker died) become interrupted, for an operator to look at;
    approval requests past their expiry become expired."""
    stale = (AutomationRun.status == RunStatus.running) & (AutomationRun.lease_until < now)
    unanswered = (AutomationRun.status == RunStatus.awaiting_approval) & (AutomationRun.approval_expires_at < now)
    runs = list((await session.scalars(select(AutomationRun).where(stale | unanswered).with_for_update(
        skip_locked=True))).all())
    for run in runs:
        run.lease_until = None
        record(session, run, INTERRUPTED if run.status == RunStatus.running else EXPIRED, now)
    return runs


async def unstarted_approvals(session: AsyncSession, retry_s: float) -> list[AutomationRun]:
    """Approved runs no worker started within `retry_s` of their approval or of their last announcement: the API
    commits the approval, then announces it on the approvals stream, so a Redis failure in between left them
    approved with nobody to start them. Each is marked announced now (`updated_at`), for the caller to announce
    again once per `retry_s`; however many announcements arrive, start_approved starts a run once."""
    due = (AutomationRun.status == RunStatus.approved) & (
        AutomationRun.updated_at < func.now() - timedelta(seconds=retry_s))
    runs = list((await session.scalars(select(AutomationRun).where(due).with_for_update(skip_locked=True))).all())
    for run in runs:
        run.updated_at = func.now()
    return runs


def announcement(run: AutomationRun) -> Envelope:
    payload = AutomationRunPayload(
        run_id=str(run.id), rule=run.rule_name, status=RunStatus(run.status), target=run.target, reason=run.reason,
        incident_id=str(run.incident_id) if run.incident_id else None, changed=run.changed, failed=run.failed,
        outcome=run.outcome)
    return Envelope(type=AUTOMATION_RUN_CHANGED, source=ACTOR, payload=payload.model_dump(mode="json"))
