"""Automation rules (admins create, edit, enable and delete the API's; automations.yml's are read-only here
except for enabling) and runs (operators approve or reject those awaiting approval, before they expire).
Every change is audited; an approval is announced on `aiops:automations:approved` for the worker to run."""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, Row, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit.service import record_change
from aiops_api.automations.schemas import (
    AutomationRunDetail,
    AutomationRunRead,
    AutomationStats,
    IncidentAutomations,
)
from aiops_api.errors import Conflict, NotFound
from aiops_contracts.automations import AUTOMATION_RUN_CHANGED, AutomationRunPayload, RuleSpec, RunOutcome, RunStatus
from aiops_contracts.bus import Bus, StreamBacklogFull
from aiops_contracts.db import AutomationRule, AutomationRun, Incident, IncidentEvent
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import TimelineKind
from aiops_contracts.streams import AUTOMATIONS_APPROVED, AUTOMATIONS_RUNS

log = logging.getLogger(__name__)
RUNS_LIMIT = 200
JUDGED = (RunOutcome.fixed, RunOutcome.not_fixed, RunOutcome.worse)


async def list_rules(session: AsyncSession) -> list[AutomationRule]:
    return list((await session.scalars(select(AutomationRule).order_by(AutomationRule.name))).all())


async def create_rule(session: AsyncSession, *, spec: RuleSpec, actor: str) -> AutomationRule:
    rule = AutomationRule(name=spec.name, origin="api", enabled=spec.enabled, spec=spec.model_dump(mode="json"))
    session.add(rule)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"name: a rule named {spec.name!r} exists") from exc
    await record_change(session, actor=actor, action="automation_rule.created", entity=("automation_rule", spec.name),
                        before=None, after=rule.spec)
    return await _saved(session, rule)


async def _saved(session: AsyncSession, rule: AutomationRule) -> AutomationRule:
    """Commit, then read back the timestamps the database set."""
    await session.commit()
    await session.refresh(rule)
    return rule


async def _rule(session: AsyncSession, name: str, *, editable: bool) -> AutomationRule:
    rule = await session.scalar(select(AutomationRule).where(AutomationRule.name == name).with_for_update())
    if rule is None:
        raise NotFound(f"automation rule {name!r} not found")
    if editable and rule.origin != "api":
        raise Conflict(f"rule {name!r} is defined in automations.yml: change it there")
    return rule


async def replace_rule(session: AsyncSession, *, name: str, spec: RuleSpec, actor: str) -> AutomationRule:
    if spec.name != name:
        raise Conflict(f"name: the body names {spec.name!r}, the URL {name!r}")
    rule = await _rule(session, name, editable=True)
    before, rule.spec, rule.enabled = rule.spec, spec.model_dump(mode="json"), spec.enabled
    await record_change(session, actor=actor, action="automation_rule.updated", entity=("automation_rule", name),
                        before=before, after=rule.spec)
    return await _saved(session, rule)


async def toggle_rule(session: AsyncSession, *, name: str, enabled: bool, actor: str) -> AutomationRule:
    rule = await _rule(session, name, editable=False)
    before, rule.enabled = rule.enabled, enabled
    rule.spec = {**rule.spec, "enabled": enabled}
    await record_change(session, actor=actor, action="automation_rule.toggled", entity=("automation_rule", name),
                        before={"enabled": before}, after={"enabled": enabled})
    return await _saved(session, rule)


async def delete_rule(session: AsyncSession, *, name: str, actor: str) -> None:
    rule = await _rule(session, name, editable=True)
    await record_change(session, actor=actor, action="automation_rule.deleted", entity=("automation_rule", name),
                        before=rule.spec, after=None)
    await session.delete(rule)
    await session.commit()


async def list_runs(session: AsyncSession, *, status: RunStatus | None, rule: str | None,
                    incident_id: uuid.UUID | None) -> list[AutomationRunRead]:
    stmt = select(AutomationRun).order_by(AutomationRun.created_at.desc(), AutomationRun.id).limit(RUNS_LIMIT)
    if status is not None:
        stmt = stmt.where(AutomationRun.status == status.value)
    if rule is not None:
        stmt = stmt.where(AutomationRun.rule_name == rule)
    if incident_id is not None:
        stmt = stmt.where(AutomationRun.incident_id == incident_id)
    return [AutomationRunRead.model_validate(run) for run in await session.scalars(stmt)]


async def get_run(session: AsyncSession, *, run_id: uuid.UUID) -> AutomationRunDetail:
    run = await session.get(AutomationRun, run_id)
    if run is None:
        raise NotFound(f"automation run {run_id} not found")
    return AutomationRunDetail.model_validate(run)


@dataclass(frozen=True)
class Verdict:
    """An operator's decision on a run awaiting approval, with the comment (a change ticket, say) that goes
    into the audit entry and onto the incident's timeline."""

    approve: bool
    actor: str
    comment: str = ""


async def decide_run(session: AsyncSession, bus: Bus, *, run_id: uuid.UUID, verdict: Verdict) -> AutomationRunDetail:
    """Approve (the worker then runs it, once) or reject a run awaiting approval; an expired request is marked
    expired and refused."""
    run = await session.get(AutomationRun, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound(f"automation run {run_id} not found")
    if run.status != RunStatus.awaiting_approval:
        raise Conflict(f"run {run_id} is {run.status}, not awaiting approval")
    now = datetime.now(UTC)
    expired = run.approval_expires_at is not None and run.approval_expires_at <= now
    status = RunStatus.expired if expired else RunStatus.approved if verdict.approve else RunStatus.rejected
    run.status, run.decided_by = status.value, verdict.actor
    run.reason = f"{status.value} by {verdict.actor}" if not expired else "the approval request expired"
    comment = verdict.comment.strip()
    await record_change(session, actor=verdict.actor, action=f"automation.{status.value}",
                        entity=("automation_run", str(run.id)), before={"status": RunStatus.awaiting_approval.value},
                        after={"status": status.value, "comment": comment})
    if run.incident_id is not None:
        message = f"{run.rule_name}: {run.reason}" + (f" ({comment})" if comment else "")
        session.add(IncidentEvent(incident_id=run.incident_id, event_id=None, at=now, kind=TimelineKind.automation,
                                  count=0, host=run.target, template_id=None, message=message))
    await session.commit()
    if expired:
        raise Conflict(f"run {run_id}: the approval request expired at {run.approval_expires_at.isoformat()}")
    payload = AutomationRunPayload(run_id=str(run.id), rule=run.rule_name, status=status, target=run.target,
                                   reason=run.reason, incident_id=str(run.incident_id) if run.incident_id else None)
    envelope = Envelope(type=AUTOMATION_RUN_CHANGED, source="api", payload=payload.model_dump(mode="json"))
    try:
        if verdict.approve:
            await bus.publish(AUTOMATIONS_APPROVED, envelope)
        await bus.publish_and_broadcast(AUTOMATIONS_RUNS, [envelope])
    except (RedisError, OSError, StreamBacklogFull) as exc:
        # The decision stands (a 503 would send the operator to retry, into a 409): the worker's sweep starts
        # an approved run no announcement reached (unstarted_approvals, after AUTOMATIONS_APPROVED_RETRY_S).
        log.warning("automation decision not announced", extra={"run_id": str(run.id), "status": status.value,
                                                               "error": repr(exc)})
    return AutomationRunDetail.model_validate(run)


async def automation_stats(session: AsyncSession, *,
                           incident_ids: list[uuid.UUID] | None = None) -> list[AutomationStats]:
    """Per rule and action; over the runs of `incident_ids` when given."""
    action = func.coalesce(AutomationRun.spec["action"]["playbook"].astext, AutomationRun.spec["action"]["kind"].astext)

    def count(column: ColumnElement[Any], value: str) -> ColumnElement[int]:
        return func.count().filter(column == value)

    rows = (await session.execute(
        select(AutomationRun.rule_name, action.label("action"), func.count().label("runs"),
               count(AutomationRun.status, RunStatus.succeeded).label("succeeded"),
               count(AutomationRun.status, RunStatus.failed).label("failed"),
               *(count(AutomationRun.outcome, o).label(o.value) for o in JUDGED),
               func.avg(AutomationRun.mttr_s).label("mean_mttr_s"))
        .where(AutomationRun.incident_id.in_(incident_ids) if incident_ids is not None else true())
        .group_by(AutomationRun.rule_name, action).order_by(AutomationRun.rule_name, action))).all()
    return [AutomationStats(**row._mapping, success_rate=_rate(row)) for row in rows]


def _rate(row: Row[Any]) -> float | None:
    judged = row.fixed + row.not_fixed + row.worse
    return row.fixed / judged if judged else None


async def incident_automations(session: AsyncSession, *, incident_id: uuid.UUID) -> IncidentAutomations:
    """The similar incidents are those the worker's enrichment found nearest in meaning (`details.enrichment`)."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    mttr_s = (incident.resolved_at - incident.first_seen_at).total_seconds() if incident.resolved_at else None
    runs = await list_runs(session, status=None, rule=None, incident_id=incident_id)
    enrichment = incident.details.get("enrichment", {})
    similar = [uuid.UUID(p["id"]) for p in enrichment.get("similar", [])]
    stats = await automation_stats(session, incident_ids=similar) if similar else []
    best = sorted((s for s in stats if s.success_rate),
                  key=lambda s: (-(s.success_rate or 0), -s.fixed, s.mean_mttr_s or float("inf")))
    note = "" if enrichment else "No similar incidents yet: the worker looks for them when it enriches the incident."
    return IncidentAutomations(incident_id=incident_id, mttr_s=mttr_s, runs=runs, suggestions=best,
                               similar_incidents=len(similar), note=note)
