"""The producer manager: runs a poller for every enabled polled source this replica holds the lease of.

Every `poller_reconcile_s` it reads the sources table and renews its leases (producers/leases.py), then
starts the pollers of sources it newly holds, stops those of sources gone, disabled or held elsewhere, and
restarts those whose row changed (kind, target, interval, config, credentials or labels): no worker
restart. A stopped poller closes in the background (a Redfish poller deletes its subscription on the BMC, for
up to its poll timeout), so a slow device never delays the lease renewals (a changed source starts again once
its poller is closed); the manager's end frees its leases, then waits for them all.
Each source polls on its own schedule: a new source first at a random point of its interval (so sources
spread), one taken over from another replica when its next poll is due. At most
`poller_max_concurrent` polls run at once on this replica, each cut off after its settings' `timeout_s`, so a
slow device delays nobody but itself. A failed poll is retried after its interval doubled per consecutive
failure (at most `poller_max_backoff_s`). What a poll produced is published on the metrics, alerts, logs and
pipeline runs streams, then committed (the poller's position moves past it, producers/poller.py): a poll that
failed, or whose publish or commit failed (Redis down, StreamBacklogFull), is read again by the next one. One that
failed in some parts only (PartsFailed: a deleted repository, a test failing for good) publishes and commits the
others' result and is a failure of the source's health naming those parts, but does not back the source off: the
others are still read every interval (a poll whose parts all failed does). The outcome is the source's health
(producers/health.py): its error says the stage ("publish: …", "commit: …"), its points are those published.
The manager also answers the API's "test connection" requests (producers/checks.py), from any replica, whoever
holds the lease."""

import asyncio
import hashlib
import ipaddress
import logging
import random
import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError
from sqlalchemy import select

from aiops_contracts.db import Source
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, LOGS_RECEIVED, METRICS_RECEIVED, LogsPayload, MetricsPayload
from aiops_contracts.pipelines import PIPELINE_RUN_RECEIVED, run_event_id
from aiops_contracts.pollers import (
    ConnectionCheck,
    ConnectionStep,
    PollerSettings,
    poller_settings,
    push_context,
    push_path,
    redfish_pushed_key,
)
from aiops_contracts.secrets import SecretBox, secret_box
from aiops_contracts.sources import SourceKind, is_reserved_source_name
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED, METRICS_INGESTED, PIPELINES_RUNS
from aiops_contracts.timing import sleep_or_stop
from aiops_worker.producers import health
from aiops_worker.producers.checks import check_connection
from aiops_worker.producers.leases import Leases
from aiops_worker.producers.poller import PartsFailed, PolledSource, Poller, PollResult
from aiops_worker.producers.registry import POLLERS
from aiops_worker.runtime.consumer import TRANSIENT_ERRORS
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)
CHECK_REPLY_TTL_S = 60


class SourceUnusable(ValueError):
    """A row whose settings or credentials cannot make a poller (reported as its health)."""


class Outcome(StrEnum):
    """A poll's, for its schedule: only one that failed whole backs the source off."""

    ok = "ok"
    partial = "partial"  # some parts failed (PartsFailed), the others' result was published and committed
    failed = "failed"  # nothing read, or its publish or commit failed


@dataclass
class Running:
    poller: Poller
    fingerprint: str
    task: asyncio.Task[None]


class ProducerManager:
    name = "pollers"
    runs_everywhere = True  # every replica, whatever its role: the leases share the sources out

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.leases = Leases(ctx.redis, ctx.settings)
        self.slots = asyncio.Semaphore(ctx.settings.poller_max_concurrent)
        self.running: dict[str, Running] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}  # pollers stopped, still closing (_stop), by source
        self._box = secret_box(ctx.settings.secrets_key.get_secret_value())
        self._push_refused_said = False  # the PUBLIC_URL devices cannot reach is logged once

    async def run(self, stop: asyncio.Event) -> None:
        checks = asyncio.create_task(self._answer_checks(stop), name="pollers-checks")
        try:
            while not stop.is_set():
                try:
                    await self.reconcile()
                except TRANSIENT_ERRORS as exc:
                    log.warning("pollers not reconciled, store unavailable", extra={"error": repr(exc)})
                await sleep_or_stop(stop, self.settings.poller_reconcile_s)
        finally:
            checks.cancel()
            await asyncio.gather(checks, return_exceptions=True)
            held = sorted(self._holding())
            for source_id in list(self.running):
                self._stop(source_id)
            try:  # first: a close waiting for its device must not keep the sources from the other replicas
                await self.leases.release(held)
            finally:
                await self.closed()

    async def reconcile(self) -> None:
        rows = {str(row.id): row for row in await self._load_rows()}
        held = await self.leases.hold(sorted(rows), already_held=len(self._holding()))
        if excess := sorted(held)[self.leases.share:]:  # more than its share: another replica joined
            await self.leases.give_up(excess)
            held -= set(excess)
        for source_id in list(self.running):
            row, running = rows.get(source_id), self.running[source_id]
            if running.task.done():  # ended (a bug, a cancellation): stopped here, started again once closed
                _log_ended(running)
                self._stop(source_id)
            elif source_id not in held or row is None or running.fingerprint != fingerprint(row):
                self._stop(source_id)
        # One still closing (changed) starts at a later reconcile: a Redfish poller deletes its subscription only
        # after reading that it is its own, and the next one's may by then hold the same path.
        for source_id in sorted(held - self.running.keys() - self._closing.keys()):
            await self._start(rows[source_id])
        health.RUNNING.set(len(self.running))

    async def _load_rows(self) -> list[Source]:
        async with self.ctx.sessions() as session:
            rows = await session.scalars(select(Source).where(
                Source.kind.in_([kind.value for kind in POLLERS]), Source.enabled, Source.revoked_at.is_(None)))
            return list(rows)

    async def _start(self, row: Source) -> None:
        try:
            poller = self.build(row)
        except SourceUnusable as exc:
            # Held, so no other replica tries it, but not polled: tried again at each reconcile (fixed by an update).
            await health.record_poll(self.ctx.redis, self.settings, health.SourceRef(str(row.id), row.name, row.kind),
                                     duration_s=0.0, points=0, error=str(exc))
            return
        try:
            delay = await self._first_delay(poller.source)
        except BaseException:  # Redis down, or the manager stopping: not running, so nobody else would close it
            await poller.aclose()  # (an SNMP poller holds its engine from the start)
            raise
        task = asyncio.create_task(self._poll_forever(poller, delay), name=f"poller-{row.name}")
        self.running[str(row.id)] = Running(poller, fingerprint(row), task)
        log.info("poller started", extra={"source": row.name, "kind": row.kind})

    def _stop(self, source_id: str) -> asyncio.Task[None]:
        """Cancels the source's poller and starts closing it: the task returned ends once it is closed. Closing
        may talk to the device (a Redfish poller deletes its subscription) for up to the poll's timeout, which
        the reconcile does not wait for: the leases it renews would expire meanwhile. The manager's end does."""
        running = self.running.pop(source_id)
        running.task.cancel()
        health.forget(_ref(running.poller.source))  # now: another replica may poll it before this one is closed
        closing = asyncio.create_task(self._close(running), name=f"poller-close-{running.poller.source.name}")
        self._closing[source_id] = closing
        closing.add_done_callback(lambda _: self._closing.pop(source_id, None))
        return closing

    def _holding(self) -> set[str]:
        """The sources whose leases this replica holds: those it polls and those still closing here."""
        return self.running.keys() | self._closing.keys()

    async def closed(self) -> None:
        """Returns once every stopped poller is closed (all close at once: each may wait for its device)."""
        await asyncio.gather(*self._closing.values())

    @staticmethod
    async def _close(running: Running) -> None:
        source = running.poller.source
        await asyncio.gather(running.task, return_exceptions=True)
        try:
            await running.poller.aclose()
        except Exception as exc:  # a bug in one poller's close must not end the manager's stop of the others
            log.warning("poller not closed cleanly", extra={"source": source.name, "error": repr(exc)})
        log.info("poller stopped", extra={"source": source.name})

    def build(self, row: Source) -> Poller:
        """The poller of a row; SourceUnusable naming what is wrong with it."""
        if is_reserved_source_name(row.name):  # created before they were refused; migration 0027 renames it
            raise SourceUnusable(f"name: {row.name!r} is reserved for the worker's own alerts, which this source's "
                                 "would pass for (the migrations rename it)")
        source_id, box = str(row.id), self._box
        source = PolledSource(id=source_id, name=row.name, kind=SourceKind(row.kind), target=row.target or "",
                              interval_s=row.interval_s or 60.0, labels=dict(row.labels or {}),
                              settings=source_settings(box, row),
                              push_url=self._push_url(row, source_id),
                              push_context=push_context(box, source_id) if box else None, redis=self.ctx.redis,
                              pushed_key=redfish_pushed_key(self.settings, source_id))
        return POLLERS[source.kind](source)

    def _push_url(self, row: Source, source_id: str) -> str | None:
        """Where the source's device pushes events: None when PUBLIC_URL is unset, or a loopback address and the
        device not on this host (it would push to itself)."""
        public_url = self.settings.public_url
        if public_url and (not _loopback(public_url) or _loopback(row.target or "")):
            return public_url + push_path(row.kind, source_id)
        if not self._push_refused_said:
            self._push_refused_said = True
            log.warning("PUBLIC_URL unset or a loopback address: devices are not asked to push events (Redfish "
                        "event subscriptions), their sources are polled only", extra={"public_url": public_url})
        return None

    async def _first_delay(self, source: PolledSource) -> float:
        """A source polled before (by this or another replica) keeps its schedule: due one interval after its
        last poll, at once if that is past. A new one polls at a random point of its interval (spread)."""
        last = await self.ctx.redis.hget(health.health_key(self.settings, source.id), "last_poll_at")
        if last is None:
            return random.uniform(0, source.interval_s)
        return min(max(float(last) + source.interval_s - time.time(), 0.0), source.interval_s)

    async def _poll_forever(self, poller: Poller, delay: float) -> None:
        source = poller.source
        failures = 0
        while True:
            await asyncio.sleep(delay)
            started = time.monotonic()
            async with self.slots:
                outcome = await self.poll_once(poller)
            failures = failures + 1 if outcome == Outcome.failed else 0  # parts read: the interval goes on
            backoff = source.interval_s * 2 ** min(max(failures - 1, 0), 16)
            delay = min(backoff, max(self.settings.poller_max_backoff_s, source.interval_s))
            delay = max(delay - (time.monotonic() - started), 0.0)

    async def poll_once(self, poller: Poller) -> Outcome:
        """One poll, published, committed and recorded (the points are those published)."""
        source, started = poller.source, time.monotonic()
        result, outcome, error = await self._poll(poller)
        points, stage = 0, "publish"
        try:
            await self._publish(source, result)
            points, stage = result.points, "commit"
            await result.commit()
        except Exception as exc:  # Redis down, a stream at its backlog cap: the next poll reads it all again
            outcome, error = Outcome.failed, f"{stage}: {str(exc) or repr(exc)}"
        if error is not None:
            log.warning("poll failed", extra={"source": source.name, "kind": source.kind.value, "error": error})
        await self._record(source, duration_s=time.monotonic() - started, points=points, error=error)
        return outcome

    @staticmethod
    async def _poll(poller: Poller) -> tuple[PollResult, Outcome, str | None]:
        """The poll's result (of the parts that answered, when some failed), its outcome and error (None: ok)."""
        timeout_s = poller.source.settings.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await poller.poll(), Outcome.ok, None
        except TimeoutError:
            return PollResult(), Outcome.failed, f"timeout: no complete answer within {timeout_s:g} s"
        except PartsFailed as exc:
            return exc.result, Outcome.failed if exc.whole else Outcome.partial, f"{exc.stage}: {exc}"
        except Exception as exc:  # a poll's failure is the source's health, never the manager's end
            return PollResult(), Outcome.failed, f"{getattr(exc, 'stage', 'protocol')}: {exc}"

    async def _record(self, source: PolledSource, *, duration_s: float, points: int, error: str | None) -> None:
        """The poll's health, best effort: Redis down as a poll ends loses that record, never the poller."""
        try:
            await health.record_poll(self.ctx.redis, self.settings, _ref(source), duration_s=duration_s,
                                     points=points, error=error)
        except Exception as exc:
            log.warning("poll health not recorded", extra={"source": source.name, "error": repr(exc)})

    async def _publish(self, source: PolledSource, result: PollResult) -> None:
        bus = self.ctx.bus
        if result.lines:
            payload = MetricsPayload(lines="\n".join(result.lines), count=len(result.lines))
            await bus.publish(METRICS_INGESTED, Envelope(type=METRICS_RECEIVED, source=source.name,
                                                         payload=payload.model_dump(mode="json")))
        if result.alerts:
            await bus.publish_many(ALERTS_INGESTED, [
                Envelope(type=ALERT_RECEIVED, source=source.name, payload=alert.model_dump(mode="json"))
                for alert in result.alerts])
        if result.logs:
            payload_logs = LogsPayload(records=result.logs, labels=dict(source.labels))
            await bus.publish(LOGS_INGESTED, Envelope(type=LOGS_RECEIVED, source=source.name,
                                                      payload=payload_logs.model_dump(mode="json",
                                                                                      exclude_defaults=True)))
        if result.runs:  # ids from the run and its state: a run read again unchanged is dropped by the store
            await bus.publish_many(PIPELINES_RUNS, [
                Envelope(id=run_event_id(source.name, run), type=PIPELINE_RUN_RECEIVED, source=source.name,
                         payload=run.model_dump(mode="json")) for run in result.runs])

    async def _answer_checks(self, stop: asyncio.Event) -> None:
        """Connection tests the API asks for: `{"source_id", "reply_to"}` on the bus's poller_checks_key."""
        while not stop.is_set():
            try:
                popped = await self.ctx.redis.blpop([self.ctx.bus.poller_checks_key], timeout=1)
                if popped is not None:
                    await self._answer_check(popped[1])
            except TRANSIENT_ERRORS as exc:
                log.warning("connection tests not answered, store unavailable", extra={"error": repr(exc)})
                await sleep_or_stop(stop, 1.0)

    async def _answer_check(self, raw: bytes) -> None:
        """One request answered: any failure but a store outage is a failed result, so the loop goes on."""
        try:
            request = orjson.loads(raw)
            source_id, reply_to = str(request["source_id"]), str(request["reply_to"])
            expires_at = float(request.get("expires_at", "inf"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.error("connection test request unreadable, dropped", extra={"error": repr(exc)})
            return
        if time.time() > expires_at:  # the API stopped waiting for it
            log.warning("connection test request expired, skipped", extra={"source_id": source_id})
            return
        try:
            answer = await self.check(source_id)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:  # a bug or a bad row fails this one test, not the ones after it
            log.exception("connection test failed with an error", extra={"source_id": source_id})
            answer = _failed("config", f"the worker could not test this source ({type(exc).__name__}; "
                                       "the worker log has the details)")
        async with self.ctx.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(reply_to, answer.model_dump_json())
            pipe.expire(reply_to, CHECK_REPLY_TTL_S)
            await pipe.execute()

    async def check(self, source_id: str) -> ConnectionCheck:
        async with self.ctx.sessions() as session:
            row = await session.get(Source, source_id)
        if row is None or row.kind not in POLLERS:
            return _failed("config", f"source {source_id} is not a polled source of a kind this worker knows")
        try:
            poller = self.build(row)
        except SourceUnusable as exc:
            return _failed("config", str(exc))
        try:
            return await check_connection(poller)
        finally:
            await poller.aclose()


def source_settings(box: SecretBox | None, row: Source) -> PollerSettings:
    """A row's settings, its credentials opened; SourceUnusable naming what is wrong with them."""
    credentials = {}
    for name, sealed in (row.credentials or {}).items():
        opened = box.open(sealed) if box else None
        if opened is None:
            raise SourceUnusable(f"config: credentials.{name} cannot be opened (is SECRETS_KEY the API's?)")
        credentials[name] = opened
    try:
        return poller_settings(row.kind, dict(row.config or {}), credentials)
    except ValidationError as exc:
        raise SourceUnusable(f"config: {exc.errors()[0]['msg']}") from exc


def fingerprint(row: Source) -> str:
    """What a running poller depends on: a change restarts it."""
    facts = [row.kind, row.target, row.interval_s, row.config, row.credentials, row.labels]
    return hashlib.sha256(orjson.dumps(facts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _failed(stage: str, message: str) -> ConnectionCheck:
    step = ConnectionStep.model_validate({"stage": stage, "ok": False, "message": message})
    return ConnectionCheck(ok=False, steps=[step], duration_s=0.0)


def _log_ended(running: Running) -> None:
    error = None if running.task.cancelled() else running.task.exception()
    log.error("poller task ended, restarting it", exc_info=error,
              extra={"source": running.poller.source.name, "kind": running.poller.source.kind.value})


def _ref(source: PolledSource) -> health.SourceRef:
    return health.SourceRef(source.id, source.name, source.kind.value)


def _loopback(url: str) -> bool:
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
