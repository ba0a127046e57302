"""HTTP routes of automations: rules (admins edit, everyone signed in reads), runs with their output, and
approvals (operators approve or reject a run awaiting approval)."""

import uuid

from fastapi import APIRouter, status

from aiops_api.automations import service
from aiops_api.automations.schemas import (
    AutomationRuleRead,
    AutomationRuleToggle,
    AutomationRuleWrite,
    AutomationRunDetail,
    AutomationRunRead,
    AutomationStats,
    IncidentAutomations,
    RunDecision,
    shown_to,
)
from aiops_api.deps import Admin, BusDep, Operator, SessionDep, Viewer
from aiops_contracts.automations import RunStatus

router = APIRouter(prefix="/api/v1/automations", tags=["automations"])
NOT_FOUND = {404: {"description": "No such rule or run"}}


@router.get("/rules", operation_id="list_automation_rules")
async def list_rules(session: SessionDep, user: Viewer) -> list[AutomationRuleRead]:
    """Below admin, a webhook URL is only its scheme and host, and extra_vars are left out."""
    return [shown_to(user.role, AutomationRuleRead.model_validate(r)) for r in await service.list_rules(session)]


@router.post("/rules", status_code=status.HTTP_201_CREATED, operation_id="create_automation_rule",
             responses={409: {"description": "A rule of that name exists"}})
async def create_rule(spec: AutomationRuleWrite, session: SessionDep, user: Admin) -> AutomationRuleRead:
    return AutomationRuleRead.model_validate(await service.create_rule(session, spec=spec, actor=user.subject))


@router.put("/rules/{name}", operation_id="replace_automation_rule", responses=NOT_FOUND)
async def replace_rule(name: str, spec: AutomationRuleWrite, session: SessionDep, user: Admin) -> AutomationRuleRead:
    rule = await service.replace_rule(session, name=name, spec=spec, actor=user.subject)
    return AutomationRuleRead.model_validate(rule)


@router.patch("/rules/{name}", operation_id="toggle_automation_rule", responses=NOT_FOUND)
async def toggle_rule(name: str, data: AutomationRuleToggle, session: SessionDep, user: Admin) -> AutomationRuleRead:
    rule = await service.toggle_rule(session, name=name, enabled=data.enabled, actor=user.subject)
    return AutomationRuleRead.model_validate(rule)


@router.delete("/rules/{name}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_automation_rule",
               responses=NOT_FOUND)
async def delete_rule(name: str, session: SessionDep, user: Admin) -> None:
    await service.delete_rule(session, name=name, actor=user.subject)


@router.get("/runs", operation_id="list_automation_runs")
async def list_runs(session: SessionDep, _: Viewer, status: RunStatus | None = None, rule: str | None = None,
                    incident_id: uuid.UUID | None = None) -> list[AutomationRunRead]:
    return await service.list_runs(session, status=status, rule=rule, incident_id=incident_id)


@router.get("/stats", operation_id="get_automation_stats")
async def get_stats(session: SessionDep, _: Viewer) -> list[AutomationStats]:
    """Per rule and action: runs, and the outcomes of the successful ones (fixed, not fixed, worse) with the
    success rate and the mean time to repair."""
    return await service.automation_stats(session)


@router.get("/incidents/{incident_id}", operation_id="get_incident_automations",
            responses={404: {"description": "No such incident"}})
async def get_incident_automations(incident_id: uuid.UUID, session: SessionDep, _: Viewer) -> IncidentAutomations:
    """The incident's runs with outcome and time to repair, its own time to repair, and the playbooks with the
    best record on the resolved incidents most like it (the suggestion)."""
    return await service.incident_automations(session, incident_id=incident_id)


@router.get("/runs/{run_id}", operation_id="get_automation_run", responses=NOT_FOUND)
async def get_run(run_id: uuid.UUID, session: SessionDep, user: Viewer) -> AutomationRunDetail:
    """Below admin, the spec's webhook URL is only its scheme and host, and its extra_vars are left out."""
    return shown_to(user.role, await service.get_run(session, run_id=run_id))


@router.post("/runs/{run_id}/approve", operation_id="approve_automation_run", responses=NOT_FOUND)
async def approve_run(run_id: uuid.UUID, body: RunDecision, session: SessionDep, bus: BusDep,
                      user: Operator) -> AutomationRunDetail:
    """The comment goes into the audit entry and onto the incident's timeline."""
    verdict = service.Verdict(approve=True, actor=user.subject, comment=body.comment)
    return shown_to(user.role, await service.decide_run(session, bus, run_id=run_id, verdict=verdict))


@router.post("/runs/{run_id}/reject", operation_id="reject_automation_run", responses=NOT_FOUND)
async def reject_run(run_id: uuid.UUID, body: RunDecision, session: SessionDep, bus: BusDep,
                     user: Operator) -> AutomationRunDetail:
    """The comment goes into the audit entry and onto the incident's timeline."""
    verdict = service.Verdict(approve=False, actor=user.subject, comment=body.comment)
    return shown_to(user.role, await service.decide_run(session, bus, run_id=run_id, verdict=verdict))
