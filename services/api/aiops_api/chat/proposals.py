"""Automations the chat may propose: the enabled rules whose trigger matches an open incident the answer cites,
by the worker's own test (aiops_contracts.automations.matches), with a link to where an operator runs or
approves them. Proposing only reads: the chat runs no automation."""

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.chat.schemas import Citation, Proposal
from aiops_contracts.automations import RuleSpec, RunStatus, TriggerEvent, TriggerKind, matches
from aiops_contracts.db import AutomationRule, AutomationRun, Incident
from aiops_contracts.events import IncidentStatus
from aiops_contracts.outbound import redacted

MAX_PROPOSALS = 3
INCIDENT_KINDS = (TriggerKind.incident_opened, TriggerKind.incident_updated)


async def propose(session: AsyncSession, citations: Sequence[Citation]) -> list[Proposal]:
    """Per cited open incident (in citation order), the rules that match it; each rule proposed once, for the first
    cited incident it has a run awaiting approval on, else the first it matches."""
    ids = [uuid.UUID(c.id) for c in citations if c.kind == "incident"]
    if not ids:
        return []
    rules = [RuleSpec.model_validate(r.spec)
             for r in await session.scalars(select(AutomationRule).where(AutomationRule.enabled)
                                             .order_by(AutomationRule.name))]
    if not rules:
        return []
    incidents = sorted(await session.scalars(select(Incident).where(Incident.id.in_(ids),
                                                                    Incident.status != IncidentStatus.resolved)),
                       key=lambda i: ids.index(i.id))
    waiting = {(name, incident): run for name, incident, run in await session.execute(
        select(AutomationRun.rule_name, AutomationRun.incident_id, AutomationRun.id)
        .where(AutomationRun.status == RunStatus.awaiting_approval, AutomationRun.incident_id.in_(ids)))}
    proposals: dict[str, Proposal] = {}  # per rule, in the order first matched
    for incident in incidents:
        for rule in rules:
            if not any(matches(rule.trigger, _event(incident, kind)) for kind in INCIDENT_KINDS):
                continue
            held, awaiting = proposals.get(rule.name), waiting.get((rule.name, incident.id))
            if held is None or (awaiting and not held.awaiting_run_id):
                proposals[rule.name] = _proposal(rule, incident, awaiting)
    return list(proposals.values())[:MAX_PROPOSALS]


def _event(incident: Incident, kind: TriggerKind) -> TriggerEvent:
    """The incident as the worker's trigger sees it on an `incident.opened` or `incident.updated` event."""
    return TriggerEvent(key=f"chat:{incident.id}", kind=kind, severity=incident.severity, title=incident.title,
                        host=incident.hosts[0] if incident.hosts else None,
                        service=incident.services[0] if incident.services else None,
                        incident_id=str(incident.id), at=incident.first_seen_at)


def _proposal(rule: RuleSpec, incident: Incident, awaiting: uuid.UUID | None) -> Proposal:
    """A webhook's URL shows only its scheme and host (its path is often its secret, and viewers ask the chat)."""
    action = rule.action
    runs = action.playbook or (action.url and redacted(action.url)) or action.workspace_id or action.template_id or ""
    return Proposal(rule=rule.name, description=rule.description, action=f"{action.kind} {runs}".strip(),
                    incident_id=incident.id, target=_event(incident, INCIDENT_KINDS[0]).target,
                    needs_approval=rule.guards.destructive, awaiting_run_id=awaiting,
                    link="/automations#approvals" if awaiting else f"/automations#rule-{rule.name}")


def sentence(proposal: Proposal) -> str:
    """The proposal in the answer's prose."""
    how = ("a run awaits an operator's approval" if proposal.awaiting_run_id
           else "an operator approves its runs" if proposal.needs_approval else "the worker runs it when it triggers")
    return (f"Proposed automation: {proposal.rule} ({proposal.action}) matches incident {proposal.incident_id} on "
            f"{proposal.target}; {how} ({proposal.link}). The chat runs nothing itself.")
