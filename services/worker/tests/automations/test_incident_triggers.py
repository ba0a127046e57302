"""An opened incident triggers a webhook rule (a local HTTP receiver), once, with its run on the incident's
timeline; outbound URLs are checked (no link-local or metadata addresses)."""

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from aiops_contracts.automations import RuleSpec, RunStatus
from aiops_contracts.db import AutomationRun, Incident, IncidentEvent
from aiops_contracts.events import INCIDENT_OPENED, IncidentStatus
from aiops_contracts.incidents import announce_incident_changes, incident_changed
from aiops_worker.automations.rules import sync_file_rules
from aiops_worker.automations.task import IncidentAutomationTask
from aiops_worker.outbound.urls import UnsafeUrl, check_url

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


async def test_opened_incident_calls_the_webhook_once(worker_ctx, drain, receiver):
    url, received = receiver
    rule = RuleSpec.model_validate({"name": "page-web", "trigger": {"events": ["incident.opened"], "hosts": ["web-*"],
                                                                    "severity": ["high"]},
                                    "action": {"kind": "webhook", "url": url, "extra_vars": {"who": "{host}"}}})
    incident = Incident(id=uuid.uuid4(), group_key="k", title="web down", summary="", severity="high",
                        status=IncidentStatus.open, event_count=1, hosts=["web-1"], services=[], details={},
                        first_seen_at=T0, last_seen_at=T0)
    async with worker_ctx.sessions.begin() as session:
        await sync_file_rules(session, [rule])
        session.add(incident)
    change = incident_changed(incident, INCIDENT_OPENED, source="test")
    await announce_incident_changes(worker_ctx.bus, [change, change])  # redelivered: one call
    await drain(IncidentAutomationTask(worker_ctx))
    assert [(r["who"], r["target_host"], r["aiops_event"]["incident_id"]) for r in received] == [
        ("web-1", "web-1", str(incident.id))]
    async with worker_ctx.sessions() as session:
        (run,) = (await session.scalars(select(AutomationRun))).all()
        timeline = (await session.scalars(select(IncidentEvent.message).order_by(IncidentEvent.id))).all()
    assert run.status == RunStatus.succeeded and run.rc == 202
    assert timeline == ["page-web: running (guards passed)", "page-web: succeeded (successful: 1 changed, 0 failed)"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://metadata.google.internal/",
                                 "file:///etc/passwd", "http://[fe80::1]/", "gopher://x", "http://2852039166/",
                                 "http://metadata.goog./"])
async def test_unsafe_outbound_urls_are_refused(url):
    with pytest.raises(UnsafeUrl):
        await check_url(url, [])


async def test_a_refusal_names_the_host_not_the_secret_path():
    with pytest.raises(UnsafeUrl) as refused:
        await check_url("http://169.254.169.254/services/T0/B0/s3cr3t?token=t0k", [])
    assert "169.254.169.254" in str(refused.value) and "s3cr3t" not in str(refused.value)
    assert "t0k" not in str(refused.value)


async def test_an_allowed_host_may_be_called():
    assert await check_url("http://169.254.169.254/x", ["169.254.169.254"]) == "http://169.254.169.254/x"


@pytest.mark.parametrize(("extra_vars", "services", "hosts", "refusal"), [
    ({"dir": "/var/log/{service}"}, ["../../etc"], ["web-1"], "service"),
    ({"dir": "/var/log/{service}"}, ["a b"], ["web-1"], "service"),
    ({"dir": "/var/log/{service}"}, ["app/x"], ["web-1"], "service"),
    ({"dir": "/var/log/{service}"}, [], ["web-1"], "service"),  # no service to put there: not left as "{service}"
    ({"dir": "/var/log/{service}"}, ["-rf"], ["web-1"], "service"),
    ({"note": "{title}"}, ["app"], ["web-1"], "title"),  # free text is never substituted
])
async def test_an_unsafe_or_missing_fact_fails_the_run_without_calling(worker_ctx, drain, receiver, extra_vars,
                                                                        services, hosts, refusal):
    url, received = receiver
    await _open_incident(worker_ctx, drain, url, extra_vars, services, hosts)
    async with worker_ctx.sessions() as session:
        (run,) = (await session.scalars(select(AutomationRun))).all()
    assert received == [] and run.status == RunStatus.failed
    assert f"{{{refusal}}}" in run.output and "not substituted" in run.output, run.output


async def test_safe_facts_are_substituted(worker_ctx, drain, receiver):
    url, received = receiver
    extra_vars = {"dir": "/var/log/{service}", "on": "{host}", "ref": "{incident_id}:{severity}", "n": 3}
    incident = await _open_incident(worker_ctx, drain, url, extra_vars, ["checkout-api_2.v1"], ["web-1.example.org"])
    assert [{k: r[k] for k in extra_vars} for r in received] == [
        {"dir": "/var/log/checkout-api_2.v1", "on": "web-1.example.org", "ref": f"{incident.id}:high", "n": 3}]


async def _open_incident(ctx, drain, url: str, extra_vars: dict, services: list[str], hosts: list[str]) -> Incident:
    rule = RuleSpec.model_validate({"name": "hook", "trigger": {"events": ["incident.opened"]},
                                    "action": {"kind": "webhook", "url": url, "extra_vars": extra_vars}})
    incident = Incident(id=uuid.uuid4(), group_key="k", title="web {down} ../x", summary="", severity="high",
                        status=IncidentStatus.open, event_count=1, hosts=hosts, services=services, details={},
                        first_seen_at=T0, last_seen_at=T0)
    async with ctx.sessions.begin() as session:
        await sync_file_rules(session, [rule])
        session.add(incident)
    await announce_incident_changes(ctx.bus, [incident_changed(incident, INCIDENT_OPENED, source="test")])
    await drain(IncidentAutomationTask(ctx))
    return incident
