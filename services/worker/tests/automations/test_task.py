"""Automations end to end on the real stores: a predicted disk-full alert runs the real disk-cleanup playbook
(against localhost, confined to a temporary directory) once; redeliveries, a second replica and an interrupted
run never run it again; approvals, maintenance windows and critical incidents are guarded and audited."""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select, update

from aiops_contracts.automations import AUTOMATION_RUN_CHANGED, AutomationRunPayload, RuleSpec, RunStatus
from aiops_contracts.db import AuditEntry, AutomationRun
from aiops_contracts.envelope import Envelope, utcnow
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload, Severity
from aiops_contracts.streams import ALERTS_INGESTED, AUTOMATIONS_APPROVED, AUTOMATIONS_RUNS
from aiops_worker.alerts.task import AlertStoreTask
from aiops_worker.automations.inventory import fleet_hosts, inventory
from aiops_worker.automations.rules import sync_file_rules
from aiops_worker.automations.task import WEBHOOK_OUTPUT_BYTES, AlertAutomationTask, ApprovedRunTask, RunSweepTask
from aiops_worker.outbound.bodies import cut_note
from aiops_worker.runtime.context import WorkerContext
from conftest import StreamedAnswer, start_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FLEET = "automations_fleet"  # a measurement of the run's InfluxDB database that makes hosts part of the fleet


@pytest.fixture
async def ctx(worker_ctx: WorkerContext, tmp_path: Path, influx_database: str) -> AsyncIterator[WorkerContext]:
    worker_ctx.settings = worker_ctx.settings.model_copy(update={
        "automations_connection": "local", "automations_run_dir": str(tmp_path), "worker_name": "test-worker",
        "automations_hosts": ["web-[12]", "-*"]})
    await worker_ctx.influx.write(f"{FLEET},host=web-1 up=1\n{FLEET},host=web-2 up=1")
    yield worker_ctx
    await worker_ctx.influx.query(f'DROP MEASUREMENT "{FLEET}"')


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    """A directory with two old logs, a fresh one and a file the cleanup must keep."""
    folder = tmp_path / "var-log-app"
    folder.mkdir()
    old = time.time() - 3 * 86_400
    for name in ("a.log", "b.log.gz", "fresh.log", "keep.txt"):
        (folder / name).write_text("x" * 1000)
    for name in ("a.log", "b.log.gz"):
        os.utime(folder / name, (old, old))
    return folder


def disk_rule(folder: Path, **guards) -> RuleSpec:
    return RuleSpec.model_validate({
        "name": "disk-predicted-full",
        "trigger": {"events": ["prediction"], "measurement": "disk", "exhausts_within_h": 72},
        "action": {"playbook": "disk_cleanup.yml", "extra_vars": {"cleanup_dir": str(folder)}, "timeout_s": 120},
        "guards": {"cooldown_s": 0, **guards}})


def predicted_full(envelope_id: str, hours_left: float = 40, severity: Severity = Severity.high) -> Envelope:
    now = utcnow()
    payload = AlertPayload(
        fingerprint="disk-web-1", title="Disk / on web-1 predicted full", severity=severity, host="web-1",
        labels={"measurement": "disk", "field": "used_percent", "path": "/"}, occurred_at=now,
        details={"threshold": 95.0, "exhausts_at": (now + timedelta(hours=hours_left)).isoformat()})
    return Envelope(id=envelope_id, type=ALERT_RECEIVED, source="capacity-forecast",
                    payload=payload.model_dump(mode="json"))


async def deliver(ctx: WorkerContext, drain, *envelopes: Envelope) -> None:
    await ctx.bus.publish_many(ALERTS_INGESTED, list(envelopes))
    await drain(AlertStoreTask(ctx))
    await drain(AlertAutomationTask(ctx))


async def runs(ctx: WorkerContext) -> list[AutomationRun]:
    async with ctx.sessions() as session:
        return list((await session.scalars(select(AutomationRun).order_by(AutomationRun.created_at))).all())


async def install(ctx: WorkerContext, *rules: RuleSpec) -> None:
    async with ctx.sessions.begin() as session:
        await sync_file_rules(session, list(rules))


async def test_predicted_disk_full_runs_the_real_cleanup_once(ctx, drain, disk: Path, redis):
    await install(ctx, disk_rule(disk))
    started = time.monotonic()
    await deliver(ctx, drain, predicted_full("e-disk-1"))
    elapsed = time.monotonic() - started
    (run,) = await runs(ctx)
    assert run.status == RunStatus.succeeded, run.output
    assert (run.changed, run.failed, run.rc) == (1, 0, 0)
    assert sorted(p.name for p in disk.iterdir()) == ["fresh.log", "keep.txt"]
    assert "PLAY RECAP" in run.output and (run.target, run.worker) == ("web-1", "test-worker")
    print(f"predicted alert to playbook result: {elapsed:.2f} s")

    # The same event redelivered: no second run.
    await deliver(ctx, drain, predicted_full("e-disk-1"))
    assert len(await runs(ctx)) == 1
    announced = [Envelope.from_entry(f) for _, f in await redis.xrange(ctx.bus.key(AUTOMATIONS_RUNS))]
    assert [a.type for a in announced] == [AUTOMATION_RUN_CHANGED] * 2
    assert [a.payload["status"] for a in announced] == ["running", "succeeded"]


async def test_two_replicas_on_one_trigger_run_once(ctx, drain, disk: Path):
    await install(ctx, disk_rule(disk))
    await ctx.bus.publish(ALERTS_INGESTED, predicted_full("e-disk-2"))
    await drain(AlertStoreTask(ctx))
    # Two consumer groups stand for two replicas that both got the entry (a reclaim after a slow batch).
    second = AlertAutomationTask(ctx)
    second.group_name = "automations-replica-2"
    await asyncio.gather(drain(AlertAutomationTask(ctx)), drain(second))
    assert [r.status for r in await runs(ctx)] == [RunStatus.succeeded]


async def test_interrupted_run_is_marked_and_not_rerun(ctx, drain, disk: Path):
    """A worker killed mid-run leaves its row `running` with a lease; once the lease is over the row is
    `interrupted`, and redelivering the trigger runs nothing."""
    await install(ctx, disk_rule(disk))
    await deliver(ctx, drain, predicted_full("e-disk-3"))
    async with ctx.sessions.begin() as session:  # as a kill -9 between start and result leaves it
        await session.execute(update(AutomationRun).values(status="running", lease_until=utcnow() - timedelta(seconds=1)))
    await RunSweepTask(ctx).tick(asyncio.Event())
    await deliver(ctx, drain, predicted_full("e-disk-3"))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.interrupted and "not re-run" in run.reason


async def test_maintenance_window_skips_and_audits(ctx, drain, disk: Path):
    now = datetime.now(UTC)
    window = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat()}
    await install(ctx, disk_rule(disk, maintenance=[window]))
    await deliver(ctx, drain, predicted_full("e-disk-5"))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.skipped and run.reason.startswith("maintenance window")
    assert len(list(disk.iterdir())) == 4
    async with ctx.sessions() as session:
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(run.id)))).all()
    assert [(a.actor, a.action) for a in audit] == [("automations", "automation.skipped")]


async def test_destructive_rule_waits_for_approval_then_runs(ctx, drain, disk: Path):
    await install(ctx, disk_rule(disk, destructive=True))
    await deliver(ctx, drain, predicted_full("e-disk-6"))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.awaiting_approval and len(list(disk.iterdir())) == 4
    # What the API's approve does: the row approved by an operator, announced on the approvals stream.
    async with ctx.sessions.begin() as session:
        await session.execute(update(AutomationRun).values(status="approved", decided_by="olga"))
    approved = AutomationRunPayload(run_id=str(run.id), rule=run.rule_name, status=RunStatus.approved, target="web-1")
    envelope = Envelope(type=AUTOMATION_RUN_CHANGED, source="api", payload=approved.model_dump(mode="json"))
    await ctx.bus.publish_many(AUTOMATIONS_APPROVED, [envelope, envelope])  # delivered twice: runs once
    await drain(ApprovedRunTask(ctx))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.succeeded and run.reason.startswith("successful")
    assert sorted(p.name for p in disk.iterdir()) == ["fresh.log", "keep.txt"]


async def approve(ctx: WorkerContext, run: AutomationRun, drain) -> AutomationRun:
    """What the API's approve does: the row approved by an operator, announced on the approvals stream."""
    async with ctx.sessions.begin() as session:
        await session.execute(update(AutomationRun).where(AutomationRun.id == run.id)
                              .values(status="approved", decided_by="olga"))
    approved = AutomationRunPayload(run_id=str(run.id), rule=run.rule_name, status=RunStatus.approved, target="web-1")
    await ctx.bus.publish(AUTOMATIONS_APPROVED, Envelope(type=AUTOMATION_RUN_CHANGED, source="api",
                                                         payload=approved.model_dump(mode="json")))
    await drain(ApprovedRunTask(ctx))
    async with ctx.sessions() as session:
        return await session.get_one(AutomationRun, run.id)


async def test_an_approved_run_passes_the_rules_guards_again(ctx, drain, disk: Path):
    await install(ctx, disk_rule(disk, destructive=True))
    await deliver(ctx, drain, predicted_full("e-disk-12"))
    (run,) = await runs(ctx)
    now = datetime.now(UTC)  # meanwhile an admin declares a maintenance window on web-1
    window = {"start": (now - timedelta(minutes=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat(),
              "hosts": ["web-*"]}
    await install(ctx, disk_rule(disk, destructive=True, maintenance=[window]))
    run = await approve(ctx, run, drain)
    assert run.status == RunStatus.skipped and run.reason.startswith("approved by olga, then maintenance window")

    await install(ctx, disk_rule(disk, destructive=True))
    await deliver(ctx, drain, predicted_full("e-disk-13"))
    run = (await runs(ctx))[-1]
    assert run.status == RunStatus.awaiting_approval
    await install(ctx, disk_rule(disk, destructive=True).model_copy(update={"enabled": False}))
    run = await approve(ctx, run, drain)
    assert (run.status, run.reason) == (RunStatus.skipped, "approved by olga, then its rule was disabled or deleted")
    assert len(list(disk.iterdir())) == 4  # nothing ran


async def audited(ctx: WorkerContext, run: AutomationRun) -> list[str]:
    async with ctx.sessions() as session:
        return list((await session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == str(run.id))
                                           .order_by(AuditEntry.id))).all())


async def test_an_approval_whose_announcement_was_lost_still_runs_once(ctx, drain, disk: Path, redis):
    """The API commits `approved`, then announces it on the approvals stream: when Redis failed in between, the
    API still answers 200 with the decision, and nothing would start the run. The sweep announces approved runs
    left unstarted for `automations_approved_retry_s` again; starting stays once."""
    await install(ctx, disk_rule(disk, destructive=True))
    await deliver(ctx, drain, predicted_full("e-disk-20"))
    (run,) = await runs(ctx)
    approvals = ctx.bus.key(AUTOMATIONS_APPROVED)
    sweep = RunSweepTask(ctx)
    async with ctx.sessions.begin() as session:  # just approved: its announcement may still be on its way
        await session.execute(update(AutomationRun).values(status="approved", decided_by="olga"))
    await sweep.tick(asyncio.Event())
    assert await redis.xlen(approvals) == 0

    retry_s = ctx.settings.automations_approved_retry_s
    async with ctx.sessions.begin() as session:  # approved longer ago than that, announcement lost
        await session.execute(update(AutomationRun).values(updated_at=utcnow() - timedelta(seconds=retry_s + 1)))
    await sweep.tick(asyncio.Event())
    await sweep.tick(asyncio.Event())  # once per retry period, not on every sweep
    assert await redis.xlen(approvals) == 1
    approved = AutomationRunPayload(run_id=str(run.id), rule=run.rule_name, status=RunStatus.approved, target="web-1")
    await ctx.bus.publish(AUTOMATIONS_APPROVED, Envelope(type=AUTOMATION_RUN_CHANGED, source="api",
                                                         payload=approved.model_dump(mode="json")))  # late after all
    await drain(ApprovedRunTask(ctx))
    await sweep.tick(asyncio.Event())
    await drain(ApprovedRunTask(ctx))

    (run,) = await runs(ctx)
    assert run.status == RunStatus.succeeded and run.reason.startswith("successful"), run.reason
    assert sorted(p.name for p in disk.iterdir()) == ["fresh.log", "keep.txt"]
    assert (await audited(ctx, run)).count("automation.running") == 1


async def test_a_missing_playbook_fails_the_run_naming_it(ctx, drain, disk: Path, tmp_path: Path):
    """Before: FileNotFoundError reached the consumer, which took it for a store outage; the run stayed `running`
    until its lease ran out and then read "interrupted: its worker stopped mid-run"."""
    ctx.settings = ctx.settings.model_copy(update={"automations_playbooks_dir": str(tmp_path / "playbooks")})
    rule = disk_rule(disk)
    rule.action.playbook = "disk_cleanupp.yml"  # a typo
    await install(ctx, rule)
    await deliver(ctx, drain, predicted_full("e-disk-21"))
    (run,) = await runs(ctx)
    assert (run.status, run.lease_until) == (RunStatus.failed, None), (run.status, run.reason)
    assert f"playbook 'disk_cleanupp.yml' not found in {tmp_path / 'playbooks'}" in run.output
    assert len(list(disk.iterdir())) == 4


async def test_an_action_that_raises_fails_the_run(ctx, drain, disk: Path, tmp_path: Path):
    ctx.settings = ctx.settings.model_copy(update={"automations_run_dir": str(tmp_path / "no-such-dir")})
    await install(ctx, disk_rule(disk))
    await deliver(ctx, drain, predicted_full("e-disk-22"))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.failed and run.output.startswith("the action could not run: FileNotFoundError")


async def test_a_playbook_runs_only_on_hosts_of_the_fleet(ctx, drain, disk: Path):
    await install(ctx, disk_rule(disk))
    stranger = predicted_full("e-disk-14")
    stranger.payload["host"] = "evil.example.com"  # a host name an alert made up
    await deliver(ctx, drain, stranger)
    (run,) = await runs(ctx)
    assert run.status == RunStatus.failed and "no host of the fleet matches ['evil.example.com']" in run.output
    assert len(list(disk.iterdir())) == 4
    fleet = await fleet_hosts(ctx.influx)
    picked = inventory(fleet, ctx.settings.automations_hosts, ["web-*"], "db-1")  # a scale-out, whatever the host
    assert picked == ["web-1", "web-2"]


async def test_a_playbook_runs_only_on_fleet_hosts_the_admin_allows_with_well_formed_names(ctx, drain, disk: Path):
    """Anyone with a metrics token can put a host in the fleet: one the admin's list does not allow, or one whose
    name ssh could read as an option, is not in the inventory, even if the rule's globs pick it."""
    await ctx.influx.write(f"{FLEET},host=web-9.attacker.example up=1\n{FLEET},host=-oProxyCommand\\=x up=1")
    assert {"web-9.attacker.example", "-oProxyCommand=x"} <= await fleet_hosts(ctx.influx)
    rule = disk_rule(disk)
    rule.action.hosts = ["web-*", "-*"]
    await install(ctx, rule)
    await deliver(ctx, drain, predicted_full("e-disk-15"))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.succeeded, run.output
    recap = run.output[run.output.index("PLAY RECAP"):]
    assert "web-1" in recap and "web-2" in recap
    assert "attacker" not in recap and "ProxyCommand" not in recap
    assert sorted(p.name for p in disk.iterdir()) == ["fresh.log", "keep.txt"]


async def test_critical_severity_is_never_auto_remediated_and_its_request_expires(ctx, drain, disk: Path):
    await install(ctx, disk_rule(disk, approval_ttl_s=0.5))
    await deliver(ctx, drain, predicted_full("e-disk-7", severity=Severity.critical))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.awaiting_approval and run.approval_expires_at is not None
    await asyncio.sleep(0.6)  # past the request's expiry
    await RunSweepTask(ctx).tick(asyncio.Event())
    (run,) = await runs(ctx)
    assert run.status == RunStatus.expired and len(list(disk.iterdir())) == 4


async def test_dry_run_changes_nothing(ctx, drain, disk: Path):
    await install(ctx, disk_rule(disk, dry_run=True))
    await deliver(ctx, drain, predicted_full("e-disk-8"))
    (run,) = await runs(ctx)
    assert run.status == RunStatus.succeeded and run.dry_run and run.changed == 1
    assert len(list(disk.iterdir())) == 4


async def test_a_run_whose_symptom_clears_is_fixed_with_its_mttr(ctx, drain, disk: Path):
    await install(ctx, disk_rule(disk))
    await deliver(ctx, drain, predicted_full("e-disk-9"))
    (run,) = await runs(ctx)
    assert (run.status, run.outcome) == (RunStatus.succeeded, "watching")
    await RunSweepTask(ctx).tick(asyncio.Event())
    assert (await runs(ctx))[0].outcome == "watching"  # the forecast still predicts the disk full
    cleared = predicted_full("e-disk-10")
    cleared.payload["status"] = "resolved"
    await deliver(ctx, drain, cleared)
    await RunSweepTask(ctx).tick(asyncio.Event())
    (run,) = await runs(ctx)
    assert run.outcome == "fixed" and run.mttr_s is not None and 0 < run.mttr_s < 120
    print(f"disk-full symptom repaired in {run.mttr_s:.2f} s")


async def test_a_run_whose_symptom_stays_is_not_fixed_after_its_window(ctx, drain, disk: Path):
    rule = disk_rule(disk).model_copy(update={"verify_window_s": 0.2})
    await install(ctx, rule)
    await deliver(ctx, drain, predicted_full("e-disk-11"))
    await asyncio.sleep(0.3)  # the verify window passes with the prediction still firing
    await RunSweepTask(ctx).tick(asyncio.Event())
    (run,) = await runs(ctx)
    assert run.outcome == "not_fixed" and run.mttr_s is None


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/hook", handler)
        runner, url = await start_app(app)
        runners.append(runner)
        return f"{url}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


def webhook_rule(url: str) -> RuleSpec:
    return RuleSpec.model_validate({
        "name": "disk-predicted-full-hook",
        "trigger": {"events": ["prediction"], "measurement": "disk", "exhausts_within_h": 72},
        "action": {"kind": "webhook", "url": url, "timeout_s": 60}, "guards": {"cooldown_s": 0}})


@pytest.mark.parametrize("declared", [False, True])
async def test_a_webhooks_huge_answer_is_read_only_as_far_as_the_runs_output_keeps(ctx, drain, receiver, declared):
    """Before: the whole answer (64 MiB here) was read, then cut to 10,000 characters without saying so."""
    huge = StreamedAnswer(64 * 1024 * 1024, declared)
    await install(ctx, webhook_rule(await receiver(huge.__call__)))
    await deliver(ctx, drain, predicted_full(f"e-hook-{int(declared)}"))
    (run,) = await runs(ctx)
    assert (run.status, run.rc) == (RunStatus.succeeded, 200), run.reason
    assert run.output == ("ok " * 21845 + "\n")[:WEBHOOK_OUTPUT_BYTES] + cut_note(WEBHOOK_OUTPUT_BYTES)
    await asyncio.wait_for(huge.ended.wait(), 30)
    assert not huge.completed  # the connection was closed, not read to its end


async def test_a_webhooks_short_answer_is_its_output_whole(ctx, drain, receiver):
    async def accepted(request: web.Request) -> web.Response:
        return web.Response(text="accepted: " + (await request.json())["target_host"], status=202)

    await install(ctx, webhook_rule(await receiver(accepted)))
    await deliver(ctx, drain, predicted_full("e-hook-short"))
    (run,) = await runs(ctx)
    assert (run.status, run.rc, run.output) == (RunStatus.succeeded, 202, "accepted: web-1")


@pytest.mark.parametrize(("charset", "char", "extra"), [("utf-8", "€", 1), ("utf-8", "€", 2), ("utf-16-le", "😀", 2)],
                         ids=["utf8-1-of-3", "utf8-2-of-3", "utf16-surrogate-half"])
async def test_an_answer_cut_inside_a_character_ends_before_it_not_with_a_replacement_character(
        ctx, drain, receiver, charset: str, char: str, extra: int) -> None:
    """The cut at WEBHOOK_OUTPUT_BYTES falls `extra` bytes into a character (3 bytes in UTF-8, a 4-byte surrogate
    pair in UTF-16): the output ends with the last whole character, then the note; before, with U+FFFD."""
    width, x_width = len(char.encode(charset)), len("x".encode(charset))
    prefix = "x" * ((WEBHOOK_OUTPUT_BYTES - extra) % width // x_width)  # so that `extra` bytes of a char are kept
    text = prefix + char * (WEBHOOK_OUTPUT_BYTES // width + 100)

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=text.encode(charset), content_type="text/plain", charset=charset)

    await install(ctx, webhook_rule(await receiver(answer)))
    await deliver(ctx, drain, predicted_full(f"e-hook-cut-{charset}-{extra}"))
    (run,) = await runs(ctx)
    assert (run.status, run.rc) == (RunStatus.succeeded, 200), run.reason
    kept = text.encode(charset)[:WEBHOOK_OUTPUT_BYTES - extra].decode(charset)
    assert run.output == kept + cut_note(WEBHOOK_OUTPUT_BYTES)
    assert "\ufffd" not in run.output
