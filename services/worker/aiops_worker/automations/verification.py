"""Remediation that proves itself: after a successful run the symptom that triggered it (the alert, else the
incident) is watched for the rule's verify window. Resolved within it: fixed, with the time to repair from the
symptom's first sight; its severity risen: worse; still there when the window ends: not fixed. Each outcome is
audited and written on the incident's timeline."""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.automations import RunOutcome
from aiops_contracts.db import Alert, AuditEntry, AutomationRun, Incident, IncidentEvent
from aiops_contracts.events import AlertStatus, IncidentStatus, Severity, TimelineKind

RANK = {Severity.info: 0, Severity.low: 1, Severity.medium: 2, Severity.high: 3, Severity.critical: 4}


async def verify(session: AsyncSession, now: datetime) -> list[AutomationRun]:
    """Judge the watched runs whose outcome is known now; returns them."""
    watched = (await session.scalars(select(AutomationRun).where(AutomationRun.outcome == RunOutcome.watching)
                                     .with_for_update(skip_locked=True))).all()
    judged = []
    for run in watched:
        symptom = await _symptom(session, run)
        outcome, cleared_at = judge(run, symptom, now)
        if outcome is None:
            continue
        run.outcome, run.outcome_at = outcome.value, cleared_at or now
        if outcome == RunOutcome.fixed and run.event.get("at"):
            run.mttr_s = max(0.0, (cleared_at - datetime.fromisoformat(run.event["at"])).total_seconds())
        _record(session, run, now)
        judged.append(run)
    return judged


async def _symptom(session: AsyncSession, run: AutomationRun) -> Alert | Incident | None:
    if run.event.get("alert_id"):
        return await session.get(Alert, uuid.UUID(run.event["alert_id"]))
    return await session.get(Incident, run.incident_id) if run.incident_id else None


def judge(run: AutomationRun, symptom: Alert | Incident | None,
          now: datetime) -> tuple[RunOutcome | None, datetime | None]:
    """(outcome, when the symptom cleared) or (None, None) while it is too early to say."""
    if symptom is not None and symptom.status in (AlertStatus.resolved, IncidentStatus.resolved):
        return RunOutcome.fixed, symptom.resolved_at or now
    if symptom is not None and RANK.get(Severity(symptom.severity), 0) > RANK.get(Severity(run.event["severity"]), 0):
        return RunOutcome.worse, None
    if run.verify_until is not None and now >= run.verify_until:
        return RunOutcome.not_fixed, None
    return None, None


def _record(session: AsyncSession, run: AutomationRun, now: datetime) -> None:
    mttr = f", repaired in {run.mttr_s:.0f} s" if run.mttr_s is not None else ""
    session.add(AuditEntry(actor="automations", action=f"automation.{run.outcome}", entity_type="automation_run",
                           entity_id=str(run.id), before=None,
                           after={"rule": run.rule_name, "target": run.target, "mttr_s": run.mttr_s}))
    if run.incident_id is not None:
        session.add(IncidentEvent(incident_id=run.incident_id, event_id=None, at=now, kind=TimelineKind.automation,
                                  count=0, host=run.target, template_id=None,
                                  message=f"{run.rule_name}: outcome {run.outcome}{mttr}"))
