"""Notifications: a storm of 1,000 related alerts (through the real alert store and incident grouping) is told
once per group_interval per receiver, by two flushing replicas (email through a local aiosmtpd server, a
Slack-compatible webhook through a local HTTP receiver); silences and a critical host-down mute; PagerDuty
Events v2; a slow receiver holds no lock the gathering waits on; a failing receiver is retried and its failure
recorded, and skipped while its circuit is open; an alert's Slack markup is no ping or link; a title's line
breaks never reach a header, and a message that cannot be built fails its group only; a change gathered after a newer
one (replicas, a redelivery) never tells a resolved incident firing; a bad notifications.yml names its line."""

import asyncio
import email
import email.policy
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import select

from aiops_contracts.db import Incident, Notification, NotificationGroup, NotificationReceiver, Silence
from aiops_contracts.envelope import Envelope, utcnow
from aiops_contracts.events import (
    ALERT_RECEIVED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    AlertPayload,
    AlertStatus,
    IncidentChangedPayload,
    IncidentStatus,
    Severity,
)
from aiops_contracts.streams import ALERTS_INGESTED, INCIDENTS_CHANGED
from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.incidents.task import AlertIncidentTask
from aiops_worker.notifications.flush import NotificationFlushTask
from aiops_worker.notifications.routing import Receiver, RoutingError, install_receivers, load_routing
from aiops_worker.notifications.senders import BREAKER_FAILURES, RETRIES, ReceiverUnavailable, Sender, notice
from aiops_worker.notifications.task import NotificationTask
from aiops_worker.runtime.context import WorkerContext

GROUP_INTERVAL_S = 300


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


class HttpReceiver:
    """A local HTTP receiver (Slack incoming webhook, PagerDuty's events endpoint): answers `status`."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        self.answering = threading.Event()  # cleared: a post is received and held until it is set again
        self.answering.set()
        self.holding = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                receiver.holding.set()
                receiver.answering.wait()
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T/B/SECRET"


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    yield receiver
    receiver.server.shutdown()


def configure(ctx: WorkerContext, tmp_path: Path, body: str, **settings) -> WorkerContext:
    path = tmp_path / "notifications.yml"
    path.write_text(body)
    ctx.settings = ctx.settings.model_copy(update={"notifications_path": str(path), **settings})
    return ctx


async def flush(ctx: WorkerContext, replicas: list[NotificationFlushTask], now: datetime) -> int:
    return sum(await asyncio.gather(*(r.flush(now) for r in replicas)))


async def notifications(ctx: WorkerContext) -> list[Notification]:
    async with ctx.sessions() as session:
        return list((await session.scalars(select(Notification).order_by(Notification.created_at))).all())


def alert(n: int, host: str, status: AlertStatus = AlertStatus.firing) -> Envelope:
    payload = AlertPayload(fingerprint=f"latency-{host}-{n % 7}", title=f"checkout latency high on {host}",
                           severity=Severity.high, status=status, host=host, service="checkout", occurred_at=utcnow())
    return Envelope(type=ALERT_RECEIVED, source="prometheus", payload=payload.model_dump(mode="json"))


async def storm_wave(ctx: WorkerContext, drain, envelopes: list[Envelope]) -> None:
    await ctx.bus.publish_many(ALERTS_INGESTED, envelopes)
    await drain(AlertStoreTask(ctx))
    await drain(AlertIncidentTask(ctx))
    await drain(NotificationTask(ctx))


async def test_a_storm_of_1000_related_alerts_is_told_once_per_group_interval(worker_ctx, drain, smtp, http,
                                                                              tmp_path: Path):
    port, inbox = smtp
    ctx = configure(worker_ctx, tmp_path, f"""
receivers:
  - {{name: oncall-mail, kind: email, to: [oncall@example.com]}}
  - {{name: ops-slack, kind: slack, url: "{http.url}"}}
routes:
  - {{receiver: oncall-mail, severity: [critical, high], group_by: [service], group_wait_s: 30,
     group_interval_s: {GROUP_INTERVAL_S}, continue: true}}
  - {{receiver: ops-slack, services: [checkout], group_by: [service], group_wait_s: 30,
     group_interval_s: {GROUP_INTERVAL_S}}}
""", smtp_host="127.0.0.1", smtp_port=port)
    replicas = [NotificationFlushTask(ctx), NotificationFlushTask(ctx)]
    hosts = [f"web-{i:02d}" for i in range(1, 21)]
    # 1,000 alerts in three waves, one group_interval apart: 8 hosts start failing, 6 more, then the last 6.
    waves = [[alert(n, hosts[n % 8]) for n in range(400)], [alert(n, hosts[n % 14]) for n in range(300)],
             [alert(n, hosts[n % 20]) for n in range(300)]]
    start = utcnow()
    per_interval: list[int] = []
    for index, wave in enumerate(waves):
        await storm_wave(ctx, drain, wave)
        begin = start + timedelta(seconds=index * GROUP_INTERVAL_S)
        sent = 0
        for second in range(0, GROUP_INTERVAL_S, 10):  # the flush ticks through the interval
            sent += await flush(ctx, replicas, begin + timedelta(seconds=second))
        per_interval.append(sent)
    async with ctx.sessions() as session:
        incidents = (await session.scalars(select(Incident))).all()
    assert len(incidents) == 20
    assert per_interval == [2, 2, 2]  # each interval: one email and one Slack post for the one checkout group
    assert len(inbox.messages) == 3 and len(http.posts) == 3
    assert [p["text"].split("\n")[0] for p in http.posts] == [
        "[FIRING:8] high: checkout latency high on web-01 (+7 more)",
        "[FIRING:14] high: checkout latency high on web-01 (+13 more)",
        "[FIRING:20] high: checkout latency high on web-01 (+19 more)"]
    assert b"[FIRING:20] high" in inbox.messages[-1] and inbox.messages[-1].count(b"- [open] high") == 20
    # A quiet interval tells nothing; repeat_interval (4 h) has not passed.
    assert await flush(ctx, replicas, start + timedelta(seconds=4 * GROUP_INTERVAL_S)) == 0
    print(f"1000 alerts -> {len(incidents)} incidents -> per group_interval {per_interval} notifications "
          f"({len(inbox.messages)} emails, {len(http.posts)} Slack posts)")


def change(incident_id: str, host: str, severity: str = "high", status: IncidentStatus = IncidentStatus.open) -> Envelope:
    now = utcnow()
    payload = IncidentChangedPayload(incident_id=incident_id, group_key=f"alert:host:{host}", title=f"{host} is slow",
                                     severity=severity, status=status, event_count=1, hosts=[host],
                                     first_seen_at=now, last_seen_at=now)
    kind = INCIDENT_RESOLVED if status == IncidentStatus.resolved else INCIDENT_UPDATED
    return Envelope(type=kind, source="test", payload=payload.model_dump(mode="json"))


async def test_pagerduty_inhibition_by_a_critical_host_down_and_resolution(worker_ctx, drain, tmp_path: Path, http):
    ctx = configure(worker_ctx, tmp_path, f"""
receivers:
  - {{name: pd, kind: pagerduty, url: "{http.url}"}}
routes:
  - {{receiver: pd, group_by: [incident], group_wait_s: 0}}
inhibit:
  - {{source_severity: [critical], target_severity: [high, medium]}}
""", pagerduty_routing_keys={"pd": SecretStr("R0UT1NG")})
    down = uuid.uuid4()
    async with ctx.sessions.begin() as session:
        session.add(Incident(id=down, group_key="host-down:web-1", title="web-1 down", summary="", severity="critical",
                             status="open", event_count=1, hosts=["web-1"], services=[], details={},
                             first_seen_at=utcnow(), last_seen_at=utcnow()))
    muted, other = str(uuid.uuid4()), str(uuid.uuid4())
    await ctx.bus.publish_many(INCIDENTS_CHANGED, [change(str(down), "web-1", "critical"), change(muted, "web-1"),
                                                   change(other, "web-2")])
    await drain(NotificationTask(ctx))
    task = NotificationFlushTask(ctx)
    assert await task.flush(utcnow()) == 2
    assert sorted((p["payload"]["source"], p["payload"]["severity"], p["event_action"]) for p in http.posts) == [
        ("web-1", "critical", "trigger"), ("web-2", "error", "trigger")]  # web-1's high incident is muted
    assert {p["routing_key"] for p in http.posts} == {"R0UT1NG"}

    await ctx.bus.publish_many(INCIDENTS_CHANGED, [change(other, "web-2", status=IncidentStatus.resolved)] * 2)
    await drain(NotificationTask(ctx))
    assert await task.flush(utcnow() + timedelta(seconds=300)) == 1  # the resolution, once
    (web_2,) = [p["dedup_key"] for p in http.posts[:2] if p["payload"]["source"] == "web-2"]
    assert http.posts[-1]["event_action"] == "resolve" and http.posts[-1]["dedup_key"] == web_2


async def test_a_silence_mutes_until_it_expires(worker_ctx, drain, tmp_path: Path, http):
    ctx = configure(worker_ctx, tmp_path, f"""
receivers: [{{name: hook, kind: webhook, url: "{http.url}"}}]
routes: [{{receiver: hook, group_by: [host], group_wait_s: 0, group_interval_s: 60}}]
""")
    now = utcnow()
    async with ctx.sessions.begin() as session:
        session.add(Silence(matchers=[{"name": "host", "value": "db-*"}, {"name": "severity", "value": "low",
                                                                          "negate": True}],
                            starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(minutes=5),
                            author="alice", comment="db maintenance"))
    await ctx.bus.publish_many(INCIDENTS_CHANGED, [change(str(uuid.uuid4()), "db-1"), change(str(uuid.uuid4()), "web-1")])
    await drain(NotificationTask(ctx))
    task, now = NotificationFlushTask(ctx), utcnow()
    assert await task.flush(now) == 1
    assert [p["incidents"][0]["hosts"] for p in http.posts] == [["web-1"]]
    assert await task.flush(now + timedelta(minutes=2)) == 0  # still silenced
    assert await task.flush(now + timedelta(minutes=6)) == 1  # expired: db-1 is told at the next interval
    assert http.posts[-1]["incidents"][0]["hosts"] == ["db-1"] and http.posts[-1]["status"] == "firing"


async def test_a_slow_receiver_holds_no_lock_on_its_group_and_what_arrives_meanwhile_is_told_next(
        worker_ctx, drain, tmp_path: Path, http):
    ctx = configure(worker_ctx, tmp_path, f"""
receivers:
  - {{name: hook, kind: webhook, url: "{http.url}"}}
routes:
  - {{receiver: hook, group_by: [severity], group_wait_s: 0, group_interval_s: 60}}
""")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await ctx.bus.publish(INCIDENTS_CHANGED, change(first, "web-1"))
    await drain(NotificationTask(ctx))
    http.answering.clear()
    task, now = NotificationFlushTask(ctx), utcnow()
    flushing = asyncio.create_task(task.flush(now))
    try:
        assert await asyncio.to_thread(http.holding.wait, 10)  # the receiver holds the post
        await ctx.bus.publish(INCIDENTS_CHANGED, change(second, "web-2"))
        await asyncio.wait_for(drain(NotificationTask(ctx)), 10)  # the same group is gathered into meanwhile
        assert await flush(ctx, [NotificationFlushTask(ctx)], now) == 0  # claimed: another flusher passes it by
        assert not flushing.done()
    finally:
        http.answering.set()
    assert await flushing == 1
    assert [i["incident_id"] for i in http.posts[0]["incidents"]] == [first]
    assert await task.flush(now + timedelta(seconds=60)) == 1  # what arrived while it was told
    assert sorted(i["incident_id"] for i in http.posts[1]["incidents"]) == sorted([first, second])


async def test_a_failing_receiver_is_recorded_and_retried_and_unsafe_urls_refused(worker_ctx, drain, tmp_path: Path,
                                                                                   http):
    ctx = configure(worker_ctx, tmp_path, f"""
receivers:
  - {{name: hook, kind: webhook, url: "{http.url}"}}
  - {{name: metadata, kind: webhook, url: "http://169.254.169.254/latest/meta-data"}}
routes:
  - {{receiver: hook, group_wait_s: 0, continue: true}}
  - {{receiver: metadata, group_wait_s: 0}}
""")
    await install_receivers(ctx.sessions, load_routing(ctx.settings.notifications_path))
    async with ctx.sessions() as session:
        stored = {r.name: r.target for r in await session.scalars(select(NotificationReceiver))}
    assert stored == {"hook": http.url.split("/services")[0], "metadata": "http://169.254.169.254"}  # no secret path
    http.status = 500
    await ctx.bus.publish(INCIDENTS_CHANGED, change(str(uuid.uuid4()), "web-1"))
    await drain(NotificationTask(ctx))
    task, now = NotificationFlushTask(ctx), utcnow()
    assert await task.flush(now) == 0
    assert len(http.posts) == 3  # three tries
    failed = {n.receiver: n.detail for n in await notifications(ctx)}
    assert "500" in failed["hook"] and "169.254.169.254" in failed["metadata"]
    assert "SECRET" not in failed["hook"]
    http.status = 200
    assert await task.flush(now + timedelta(seconds=30)) == 1  # retried, told once
    assert [n.status for n in await notifications(ctx) if n.receiver == "hook"] == ["failed", "sent"]


async def test_a_receiver_failing_again_and_again_is_skipped_while_its_circuit_is_open(worker_settings, http):
    http.status = 503
    sender = Sender(worker_settings)
    hook = Receiver(name="hook", kind="webhook", url=http.url)
    message = notice("hook", "0:web-1", [json.loads(change(str(uuid.uuid4()), "web-1").model_dump_json())["payload"]])
    for _ in range(BREAKER_FAILURES):
        with pytest.raises(ReceiverUnavailable, match="HTTP 503"):
            await sender.send(hook, message)
    assert len(http.posts) == BREAKER_FAILURES * RETRIES
    with pytest.raises(ReceiverUnavailable, match="circuit open"):
        await sender.send(hook, message)
    assert len(http.posts) == BREAKER_FAILURES * RETRIES  # not called while open


async def test_an_alerts_slack_markup_is_shown_as_text_not_a_channel_ping_or_a_link(worker_settings, http):
    """An incident's title and hosts come from alerts (a Sentry event needs only the public DSN key, syslog no key at
    all): Slack reads `<!channel>` as a ping of the whole channel and `<url|label>` as a link behind any label."""
    incident = json.loads(change(str(uuid.uuid4()), "<!here>").model_dump_json())["payload"]
    incident["title"] = "<!channel> <https://evil.example/sso|Reset your SSO password> &amp;"
    await Sender(worker_settings).send(Receiver(name="ops", kind="slack", url=http.url), notice("ops", "k", [incident]))
    subject, line = http.posts[0]["text"].split("\n")
    title = "&lt;!channel&gt; &lt;https://evil.example/sso|Reset your SSO password&gt; &amp;amp;"
    assert subject == f"[FIRING:1] high: {title}"
    assert line == f"- [open] high: {title} (&lt;!here&gt;) events 1, incident {incident['incident_id']}"


MAIL_AND_HOOK = """
receivers:
  - {{name: oncall-mail, kind: email, to: [oncall@example.com]}}
  - {{name: hook, kind: webhook, url: "{url}"}}
routes:
  - {{receiver: oncall-mail, group_by: [host], group_wait_s: 0, continue: true}}
  - {{receiver: hook, group_by: [host], group_wait_s: 0}}
"""


async def test_a_title_with_line_breaks_is_told_on_one_subject_line(worker_ctx, drain, smtp, http, tmp_path: Path):
    """A line break in an email header raised ValueError out of the tick: that group was retried and crashed it forever,
    and the groups after it in the tick were never told."""
    port, inbox = smtp
    ctx = configure(worker_ctx, tmp_path, MAIL_AND_HOOK.format(url=http.url), smtp_host="127.0.0.1", smtp_port=port)
    broken = change(str(uuid.uuid4()), "web-1")
    broken.payload["title"] = "disk full\r\nBcc: everyone@example.com"
    await ctx.bus.publish_many(INCIDENTS_CHANGED, [broken, change(str(uuid.uuid4()), "web-2")])
    await drain(NotificationTask(ctx))
    assert await NotificationFlushTask(ctx).flush(utcnow()) == 4
    mails = [email.message_from_bytes(m, policy=email.policy.default) for m in inbox.messages]
    assert sorted(m["Subject"] for m in mails) == ["[FIRING:1] high: disk full Bcc: everyone@example.com",
                                                   "[FIRING:1] high: web-2 is slow"]
    assert [m["Bcc"] for m in mails] == [None, None]
    assert sorted(p["subject"] for p in http.posts) == sorted(m["Subject"] for m in mails)


async def test_a_message_its_receiver_cannot_build_fails_that_group_only(worker_ctx, drain, smtp, http, tmp_path: Path):
    port, inbox = smtp
    ctx = configure(worker_ctx, tmp_path, MAIL_AND_HOOK.format(url=http.url), smtp_host="127.0.0.1", smtp_port=port,
                    smtp_from="aiops@example.com\nBcc: everyone@example.com")
    await ctx.bus.publish(INCIDENTS_CHANGED, change(str(uuid.uuid4()), "web-1"))
    await drain(NotificationTask(ctx))
    assert await NotificationFlushTask(ctx).flush(utcnow()) == 1
    outcome = {n.receiver: (n.status, n.detail) for n in await notifications(ctx)}
    assert outcome["hook"] == ("sent", "")
    assert outcome["oncall-mail"][0] == "failed" and "ValueError" in outcome["oncall-mail"][1]
    assert inbox.messages == [] and len(http.posts) == 1


async def test_an_older_change_gathered_after_the_resolution_never_tells_the_incident_firing_again(
        worker_ctx, drain, tmp_path: Path, http):
    """Changes reach the groups out of order (two replicas gathering an incident's opening and its resolution, or
    the opening redelivered after a crash): the group tells the incident's status as it is now, resolved, and goes."""
    ctx = configure(worker_ctx, tmp_path, f"""
receivers: [{{name: hook, kind: webhook, url: "{http.url}"}}]
routes: [{{receiver: hook, group_by: [host], group_wait_s: 0, group_interval_s: 60, repeat_interval_s: 600}}]
""")
    incident_id, seen = uuid.uuid4(), utcnow()
    async with ctx.sessions.begin() as session:
        session.add(Incident(id=incident_id, group_key="alert:host:web-1", title="web-1 is slow", summary="",
                             severity="high", status="open", event_count=1, hosts=["web-1"], services=[], details={},
                             first_seen_at=seen, last_seen_at=seen))
    opened, task = change(str(incident_id), "web-1"), NotificationFlushTask(ctx)
    await ctx.bus.publish(INCIDENTS_CHANGED, opened)
    await drain(NotificationTask(ctx))
    now = utcnow()
    assert await task.flush(now) == 1
    async with ctx.sessions.begin() as session:
        (await session.get(Incident, incident_id)).status = IncidentStatus.resolved
    resolved = change(str(incident_id), "web-1", status=IncidentStatus.resolved)
    await ctx.bus.publish_many(INCIDENTS_CHANGED, [resolved, opened])  # the opening again, after its resolution
    await drain(NotificationTask(ctx))
    assert await task.flush(now + timedelta(seconds=60)) == 1
    assert [p["status"] for p in http.posts] == ["firing", "resolved"]
    await ctx.bus.publish(INCIDENTS_CHANGED, opened)  # and once more, after its group was told and dropped
    await drain(NotificationTask(ctx))
    assert await task.flush(now + timedelta(seconds=120)) == 0
    assert await task.flush(now + timedelta(seconds=3600)) == 0  # no repeat of a firing incident either
    async with ctx.sessions() as session:
        assert (await session.scalars(select(NotificationGroup))).all() == []


async def test_a_group_of_a_receiver_no_longer_configured_is_dropped(worker_ctx, tmp_path: Path, http):
    ctx = configure(worker_ctx, tmp_path, f'receivers: [{{name: hook, kind: webhook, url: "{http.url}"}}]\n')
    async with ctx.sessions.begin() as session:
        session.add(NotificationGroup(receiver="gone", group_key="0:web-1", incidents={}, told={}, group_interval_s=60,
                                      repeat_interval_s=3600, due_at=utcnow()))
    assert await NotificationFlushTask(ctx).flush(utcnow()) == 0
    async with ctx.sessions() as session:
        assert (await session.scalars(select(NotificationGroup))).all() == []
    assert http.posts == []


def test_bad_routing_file_names_the_line(tmp_path: Path):
    path = tmp_path / "notifications.yml"
    path.write_text("receivers:\n  - name: mail\n    kind: pager\n    to: [a@b]\nroutes: []\n")
    with pytest.raises(RoutingError, match=r"notifications.yml:3: receivers.0.kind"):
        load_routing(str(path))
