"""POST /webhooks/github: GitHub's `workflow_run` webhook (a repository or organisation webhook, content type
application/json), for a `github_actions` source.

Authenticated by `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed with the webhook
secret (the source's `credentials["webhook_secret"]`, encrypted at rest), checked in constant time before the
body is parsed. `X-GitHub-Event` names the event: `workflow_run` (requested, in_progress, completed) becomes a
`pipeline.run_received` on `aiops:pipelines:runs` (the run only: its jobs, steps and tests come from the poller);
`ping` and any other event are acknowledged and skipped. The envelope id is derived from `X-GitHub-Delivery`,
so a redelivery GitHub makes (or a retried request) is dropped by the worker's idempotency ledger. That header is
not signed: a captured body sent again under a new one is taken again, and changes and alerts nothing, as the
worker stores a run only in a later state than the one it holds (aiops_worker/pipelines/store.py).
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status

from aiops_api.deps import BusDep, SettingsDep, github_hook_source
from aiops_api.errors import BadRequest
from aiops_api.sources.credentials import SourceIdentity
from aiops_api.webhooks.body import documented_body, json_member, read_body
from aiops_api.webhooks.expansion import publish_request
from aiops_api.webhooks.generic import WebhookAccepted
from aiops_contracts.envelope import Envelope
from aiops_contracts.github_actions import NotAWorkflowRun, run_payload
from aiops_contracts.pipelines import PIPELINE_RUN_RECEIVED, PipelineRunPayload
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import PIPELINES_RUNS

KIND = SourceKind.github_actions  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter(tags=["github"])

GithubSource = Annotated[SourceIdentity, Depends(github_hook_source)]
_DELIVERY_NAMESPACE = uuid.UUID("2b0c5d1e-7a4f-4e61-9d0a-3c9f6a1b8e27")


def parse_workflow_run(event: str, body: bytes) -> PipelineRunPayload | None:
    """The run of a `workflow_run` delivery; None for any other event."""
    if event != "workflow_run":
        return None
    document, run = json_member(body, "workflow_run", "a workflow_run event carries the run in `workflow_run`")
    if "repository" not in run and isinstance(document.get("repository"), dict):
        run = {**run, "repository": document["repository"]}
    try:
        return run_payload(run)
    except NotAWorkflowRun as exc:
        raise BadRequest(f"body.workflow_run: {exc}") from exc


@router.post("/webhooks/github", status_code=status.HTTP_202_ACCEPTED, operation_id="webhook_github",
             openapi_extra=documented_body("application/json", {"type": "object"}))
async def receive_github(
    request: Request, source: GithubSource, bus: BusDep, settings: SettingsDep,
    x_github_event: Annotated[str, Header(description="workflow_run, ping, ...")] = "",
    x_github_delivery: Annotated[str, Header(description="GitHub's id of this delivery", max_length=100)] = "",
) -> WebhookAccepted:
    body = await read_body(request, settings.max_body_bytes)
    run = parse_workflow_run(x_github_event, body)
    if run is None:
        return WebhookAccepted(accepted=0, event_ids=[])
    delivery = x_github_delivery or f"{run.external_id}:{run.status}"
    envelope = Envelope(id=uuid.uuid5(_DELIVERY_NAMESPACE, f"{source.name}|{delivery}").hex,
                        type=PIPELINE_RUN_RECEIVED, source=source.name, payload=run.model_dump(mode="json"))
    published = await publish_request(bus, PIPELINES_RUNS, [envelope], len(body), settings)
    return WebhookAccepted(accepted=len(published), event_ids=[e.id for e in published])
