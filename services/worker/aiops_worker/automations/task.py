"""Automations: incident changes, anomaly and predictive alerts trigger the rules that match them; each run
passes the guards (ledger.claim), runs for real (an Ansible playbook through ansible-runner, or a webhook), and
its decision and result go to the ledger, the audit log, the incident's timeline, `aiops:automations:runs` and
the live channel. Runs an operator approved through the API arrive on `aiops:automations:approved`."""

import asyncio
import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from aiops_contracts.automations import AutomationRunPayload, RuleSpec, RunOutcome, RunStatus
from aiops_contracts.db import Alert, AutomationRun
from aiops_contracts.envelope import utcnow
from aiops_contracts.events import AlertStatus, AlertStoredPayload, IncidentChangedPayload
from aiops_contracts.influx import InfluxUnavailable
from aiops_contracts.streams import ALERTS_STORED, AUTOMATIONS_APPROVED, AUTOMATIONS_RUNS, INCIDENTS_CHANGED
from aiops_worker.automations import ledger
from aiops_worker.automations.ansible import PlaybookResult, PlaybookRun, run_playbook
from aiops_worker.automations.guards import Decision
from aiops_worker.automations.integrations import CALLS, read_output, run_integration
from aiops_worker.automations.inventory import fleet_hosts, inventory
from aiops_worker.automations.matching import TriggerEvent, alert_kind, incident_event, matches
from aiops_worker.automations.placeholders import UnsafeFact, fill_extra_vars
from aiops_worker.automations.rules import DEFAULT_PLAYBOOKS_DIR, enabled_rules
from aiops_worker.automations.verification import verify
from aiops_worker.outbound.urls import UnsafeUrl, check_url, outbound_client
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import PeriodicTask

log = logging.getLogger(__name__)
WEBHOOK_OUTPUT_BYTES = 10_000  # of a webhook's answer, read and kept as its run's output (the rest is not read)


class _AutomationTask(StreamConsumer):
    scales_out = True  # the ledger makes every trigger run at most once, whichever replica reads it

    @property
    def runner(self) -> ledger.Runner:
        return ledger.Runner(worker=self.consumer_name, max_total=self.settings.automations_max_concurrent,
                             lease_margin_s=self.settings.automations_lease_margin_s)

    async def trigger(self, events: list[TriggerEvent]) -> None:
        async with self.ctx.sessions.begin() as session:
            rules = await enabled_rules(session)
        for event in events:
            for rule in rules:
                if matches(rule.trigger, event):
                    await self._claim_and_run(rule, event)

    async def _claim_and_run(self, rule: RuleSpec, event: TriggerEvent) -> None:
        async with self.ctx.sessions.begin() as session:
            run = await ledger.claim(session, rule, event, utcnow(), self.runner)
        if run is None:  # this trigger already has its run
            return
        await self._announce([run])
        if run.status == RunStatus.running:
            await self.execute(run)

    async def execute(self, run: AutomationRun) -> None:
        """Run the action, then record the result (the row stays `running` under its lease meanwhile)."""
        rule = RuleSpec.model_validate(run.spec)
        started = time.monotonic()
        try:
            result = await self._act(rule, run)
        except Exception as exc:  # e.g. an unwritable run directory: the run failed, recorded now (raised, it
            # would reach the consumer, whose retry finds the trigger's run and does nothing: the row would
            # stay `running` until its lease ran out and then read "interrupted")
            log.exception("automation action raised", extra={"rule": run.rule_name, "run_id": str(run.id)})
            result = PlaybookResult(status="failed", rc=None, changed=0, failed=1,
                                    output=f"the action could not run: {exc!r}")
        async with self.ctx.sessions.begin() as session:
            row = await session.get_one(AutomationRun, run.id)
            row.rc, row.changed, row.failed = result.rc, result.changed, result.failed
            row.output, row.finished_at, row.lease_until = result.output, utcnow(), None
            status = RunStatus.succeeded if result.ok else RunStatus.failed
            if status == RunStatus.succeeded and not row.dry_run:  # now watch whether it fixed the symptom
                row.outcome, row.verify_until = RunOutcome.watching, utcnow() + timedelta(seconds=rule.verify_window_s)
            ledger.record(session, row, Decision(status, f"{result.status}: {result.changed} changed, "
                                                          f"{result.failed} failed"), utcnow())
        log.info("automation run finished", extra={"rule": run.rule_name, "run_id": str(run.id),
                                                    "status": status.value, "seconds": time.monotonic() - started})
        await self._announce([row])

    async def _act(self, rule: RuleSpec, run: AutomationRun) -> PlaybookResult:
        action, facts = rule.action, run.event
        try:
            filled = fill_extra_vars(action.extra_vars, facts)
        except UnsafeFact as exc:
            return PlaybookResult(status="failed", rc=None, changed=0, failed=1, output=f"refused: {exc}")
        extra_vars = {**filled, "aiops_event": facts, "target_host": run.target}
        if action.kind == "webhook":
            return await self._call_webhook(action.url or "", extra_vars, action.timeout_s)
        if action.kind in CALLS:
            return await run_integration(action, extra_vars, self.settings)
        try:
            hosts = inventory(await fleet_hosts(self.ctx.influx), self.settings.automations_hosts, action.hosts,
                              run.target)
        except InfluxUnavailable as exc:
            return PlaybookResult(status="failed", rc=None, changed=0, failed=1, output=f"fleet unknown: {exc}")
        if not hosts:
            return PlaybookResult(status="failed", rc=None, changed=0, failed=1,
                                  output=f"no host of the fleet matches {action.hosts or [run.target]}: "
                                         "a playbook runs only on hosts the platform knows and AUTOMATIONS_HOSTS "
                                         f"allows ({self.settings.automations_hosts})")
        playbooks = Path(self.settings.automations_playbooks_dir or DEFAULT_PLAYBOOKS_DIR)
        return await run_playbook(PlaybookRun(
            playbook=playbooks / (action.playbook or ""), hosts=hosts,
            connection=self.settings.automations_connection, extra_vars=extra_vars, timeout_s=action.timeout_s,
            check=run.dry_run), self.settings.automations_run_dir or None)

    async def _call_webhook(self, url: str, body: dict[str, Any], timeout_s: float) -> PlaybookResult:
        try:
            await check_url(url, self.settings.outbound_allowed_hosts)
            async with (outbound_client(self.settings.outbound_allowed_hosts, timeout=timeout_s) as client,
                        client.stream("POST", url, json=body) as response):
                output = await read_output(response, WEBHOOK_OUTPUT_BYTES)  # the rest is never read
        except (UnsafeUrl, httpx.HTTPError) as exc:
            return PlaybookResult(status="failed", rc=None, changed=0, failed=1, output=str(exc))
        ok = response.is_success
        return PlaybookResult(status="successful" if ok else "failed", rc=response.status_code, changed=int(ok),
                              failed=int(not ok), output=output)

    async def _announce(self, runs: list[AutomationRun]) -> None:
        await self.bus.publish_and_broadcast(AUTOMATIONS_RUNS, [ledger.announcement(run) for run in runs])


class IncidentAutomationTask(_AutomationTask):
    name = "automations-incidents"
    stream = INCIDENTS_CHANGED
    payload_model = IncidentChangedPayload

    async def handle(self, batch: list[Delivery[IncidentChangedPayload]]) -> None:
        events = [incident_event(d.envelope.id, d.envelope.type, d.payload) for d in batch]
        await self.trigger([e for e in events if e is not None])


class AlertAutomationTask(_AutomationTask):
    """Anomaly and predictive alerts (firing), with the stored alert's labels and details (metric, value,
    predicted exhaustion)."""

    name = "automations-alerts"
    stream = ALERTS_STORED
    payload_model = AlertStoredPayload
    linger_s = 0.1  # most stored alerts trigger nothing: fewer, larger batches of them (a read and an ack each)

    async def handle(self, batch: list[Delivery[AlertStoredPayload]]) -> None:
        wanted = {uuid.UUID(d.payload.alert_id): d for d in batch
                  if alert_kind(d.payload.source) and d.payload.status == AlertStatus.firing}
        if not wanted:
            return
        async with self.ctx.sessions.begin() as session:
            alerts = {a.id: a for a in await session.scalars(select(Alert).where(Alert.id.in_(wanted)))}
        await self.trigger([_alert_event(d, alerts[i]) for i, d in wanted.items() if i in alerts])


def _alert_event(delivery: Delivery[AlertStoredPayload], alert: Alert) -> TriggerEvent:
    p = delivery.payload
    return TriggerEvent(key=delivery.envelope.id, kind=alert_kind(p.source), severity=p.severity.value,
                        title=p.title, host=p.host, service=p.service, incident_id=p.incident_id, alert_id=p.alert_id,
                        labels=dict(alert.labels), details=dict(alert.details), at=p.occurred_at or alert.last_seen_at)


class ApprovedRunTask(_AutomationTask):
    """Runs approved through the API start here, once (the row lock and status make a redelivery a no-op), if
    the guards still let them."""

    name = "automations-approved"
    stream = AUTOMATIONS_APPROVED
    payload_model = AutomationRunPayload

    async def handle(self, batch: list[Delivery[AutomationRunPayload]]) -> None:
        for delivery in batch:
            async with self.ctx.sessions.begin() as session:
                run = await ledger.start_approved(session, uuid.UUID(delivery.payload.run_id), utcnow(),
                                                  self.runner)
            if run is None:
                continue
            await self._announce([run])
            if run.status == RunStatus.running:  # else the guards, checked again, stopped it
                await self.execute(run)


class RunSweepTask(PeriodicTask):
    """Marks runs whose worker died `interrupted` and unanswered approval requests `expired`, judges the
    outcome of successful runs (verification.py), and says so; announces approved runs nobody started (their
    announcement lost) on the approvals stream again."""

    name = "automations-sweep"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx.settings.automations_sweep_s)
        self.ctx = ctx

    async def tick(self, stop: asyncio.Event) -> None:
        async with self.ctx.sessions.begin() as session:
            runs = await ledger.sweep(session, utcnow())
            runs += await verify(session, utcnow())
            unstarted = await ledger.unstarted_approvals(session, self.ctx.settings.automations_approved_retry_s)
        await self.ctx.bus.publish_and_broadcast(AUTOMATIONS_RUNS, [ledger.announcement(run) for run in runs])
        await self.ctx.bus.publish_many(AUTOMATIONS_APPROVED, [ledger.announcement(run) for run in unstarted])
