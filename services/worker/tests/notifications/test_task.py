"""Notifications: a storm of incident changes reaches each receiver once per group and state (email through a
local aiosmtpd server, Slack-compatible webhook through a local HTTP receiver), a resolution is told once, two
replicas never tell twice, and a bad notifications.yml names its line."""

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from aiops_contracts.db import Incident
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import INCIDENT_RESOLVED, INCIDENT_UPDATED, IncidentChangedPayload, IncidentStatus
from aiops_contracts.streams import INCIDENTS_CHANGED
from aiops_worker.notifications.routing import RoutingError, load_routing
from aiops_worker.notifications.task import NotificationTask
from aiops_worker.runtime.context import WorkerContext

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/services/T/B/X", received
    server.shutdown()


def routing_file(tmp_path: Path, slack_url: str) -> Path:
    path = tmp_path / "notifications.yml"
    path.write_text(f"""
receivers:
  - {{name: oncall-mail, kind: email, to: [oncall@example.com]}}
  - {{name: ops-slack, kind: slack, url: "{slack_url}"}}
routes:
  - {{receiver: oncall-mail, severity: [critical, high], continue: true}}
  - {{receiver: ops-slack, hosts: ["web-*"]}}
""")
    return path


@pytest.fixture
def ctx(worker_ctx: WorkerContext, tmp_path: Path, smtp, slack) -> WorkerContext:
    worker_ctx.settings = worker_ctx.settings.model_copy(update={
        "notifications_path": str(routing_file(tmp_path, slack[0])), "smtp_host": "127.0.0.1", "smtp_port": smtp[0]})
    return worker_ctx


def change(incident_id: str, host: str, n: int, status: IncidentStatus = IncidentStatus.open) -> Envelope:
    payload = IncidentChangedPayload(incident_id=incident_id, group_key=f"alert:host:{host}", title=f"{host} is slow",
                                     severity="high", status=status, event_count=n, hosts=[host],
                                     first_seen_at=T0, last_seen_at=T0)
    kind = INCIDENT_RESOLVED if status == IncidentStatus.resolved else INCIDENT_UPDATED
    return Envelope(type=kind, source="test", payload=payload.model_dump(mode="json"))


async def test_a_storm_of_1000_changes_tells_each_receiver_once_per_group(ctx, drain, smtp, slack):
    incidents = {host: uuid.uuid4().hex for host in ("web-1", "web-2", "db-1")}
    storm = [change(incidents[host], host, n) for n in range(334) for host in incidents][:1000]
    await ctx.bus.publish_many(INCIDENTS_CHANGED, storm)
    # Two replicas share the group: nobody is told twice.
    first, second = NotificationTask(ctx), NotificationTask(ctx)
    second.consumer_name = "test-worker-2"
    await asyncio.gather(drain(first), drain(second))
    _, inbox = smtp
    _, posts = slack
    assert len(inbox.messages) == 3  # one per incident (all high severity)
    assert sorted(p["text"].split("(")[-1] for p in posts) == ["web-1)", "web-2)"]  # db-1 is not routed to Slack
    assert first.sent + second.sent == 5  # entries one replica reclaimed from the other were suppressed too
    print(f"1000 changes -> {len(inbox.messages)} emails, {len(posts)} Slack posts, "
          f"{first.suppressed + second.suppressed} suppressed")

    await ctx.bus.publish_many(INCIDENTS_CHANGED, [change(incidents["web-1"], "web-1", 400, IncidentStatus.resolved)] * 2)
    await drain(NotificationTask(ctx))
    assert len(inbox.messages) == 4 and len(posts) == 3
    assert b"[RESOLVED] high: web-1 is slow" in inbox.messages[-1]


def test_bad_routing_file_names_the_line(tmp_path: Path):
    path = tmp_path / "notifications.yml"
    path.write_text("receivers:\n  - name: mail\n    kind: pager\n    to: [a@b]\nroutes: []\n")
    with pytest.raises(RoutingError, match=r"notifications.yml:3: receivers.0.kind"):
        load_routing(str(path))


async def test_pagerduty_events_v2_and_inhibition_by_a_critical_host_down(worker_ctx, drain, tmp_path: Path, slack):
    url, received = slack  # the local HTTP receiver stands in for events.pagerduty.com
    path = tmp_path / "notifications.yml"
    path.write_text(f"""
receivers:
  - {{name: pd, kind: pagerduty, url: "{url}"}}
routes:
  - {{receiver: pd}}
inhibit:
  - {{source_severity: [critical], target_severity: [high, medium]}}
""")
    worker_ctx.settings = worker_ctx.settings.model_copy(update={
        "notifications_path": str(path), "pagerduty_routing_keys": {"pd": SecretStr("R0UT1NG")}})
    down = uuid.uuid4()
    async with worker_ctx.sessions.begin() as session:
        session.add(Incident(id=down, group_key="host-down:web-1", title="web-1 down", summary="", severity="critical",
                             status="open", event_count=1, hosts=["web-1"], services=[], details={},
                             first_seen_at=T0, last_seen_at=T0))
    critical = change(str(down), "web-1", 1)
    critical.payload["severity"] = "critical"
    await worker_ctx.bus.publish_many(INCIDENTS_CHANGED, [
        critical, change(uuid.uuid4().hex, "web-1", 1), change(uuid.uuid4().hex, "web-2", 1)])
    task = NotificationTask(worker_ctx)
    await drain(task)
    assert [(r["payload"]["source"], r["payload"]["severity"], r["event_action"]) for r in received] == [
        ("web-1", "critical", "trigger"), ("web-2", "error", "trigger")]  # web-1's high incident is muted
    assert {r["routing_key"] for r in received} == {"R0UT1NG"} and received[0]["dedup_key"] == str(down)
    assert task.suppressed == 1
