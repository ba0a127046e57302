"""Dry-run replays (`replay.requested`, from POST /api/v1/replay): read the run's inputs, replay them in a thread
(replay/engine.py) within REPLAY_TIMEOUT_S and REPLAY_MAX_EVENTS, compare with what did happen (replay/diff.py)
and store the result on the run. Nothing else is written: no incident, alert, stream entry or automation run.

Once at a time, on any number of replicas: a worker takes a queued run with one conditional UPDATE that names it
the run's owner, and renews that hold (`heartbeat_at`) every third of STREAM_CLAIM_IDLE_MS while it replays,
claiming its batch's stream entries again then (XCLAIM JUSTID) so that no other replica takes them over with
XAUTOCLAIM. A run that is done or failed, or that another worker holds and renewed within STREAM_CLAIM_IDLE_MS, is
skipped and its entry acked. A run whose owner stopped renewing it that long (the worker stopped, and its entry went
idle) is taken over by the worker the entry is delivered to next, as is one the same worker held before a restart.
Recovery does not depend on that entry, though (an ack of a skipped run acks it for the whole group, and a publish
can fail): every STREAM_CLAIM_IDLE_MS each replica's sweep queues again, and requests on the stream, every run
whose hold is that stale, every run it queued again that no worker took since, and every run queued that long ago
that was never requested (the API stopped between its commit and its publish). Only the owner stores the result.
Any error but a store outage ends the run `failed` with the reason, and its entry is acked: replaying it again would
fail the same way. So does a result PostgreSQL refuses to store (DataError: a NUL an archived alert's title kept).
A renewal that fails is logged and tried again at the next, never raised over the outcome.
"""

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, update
from sqlalchemy.exc import DataError

from aiops_contracts.db import ReplayRun
from aiops_contracts.envelope import Envelope
from aiops_contracts.influx import InfluxError
from aiops_contracts.replay import REPLAY_REQUESTED, ReplayParams, ReplayRequestedPayload, ReplayStatus
from aiops_contracts.streams import REPLAY_REQUESTED as REPLAY_STREAM
from aiops_contracts.timing import sleep_or_stop
from aiops_worker.archive.store import open_archive
from aiops_worker.automations.rules import enabled_rules
from aiops_worker.logs.rules import RulesError
from aiops_worker.replay.diff import compare
from aiops_worker.replay.engine import ReplayTimeout, candidate_of, simulate
from aiops_worker.replay.inputs import load_inputs, what_did
from aiops_worker.runtime.consumer import TRANSIENT_ERRORS, Delivery, StoreUnavailable, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import beside

log = logging.getLogger(__name__)


class ReplayTask(StreamConsumer[ReplayRequestedPayload]):
    name = "replay"
    stream = REPLAY_STREAM
    payload_model = ReplayRequestedPayload
    scales_out = True  # no state kept between runs: each starts fresh

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.archive = open_archive(ctx.settings, ctx.sessions)

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        if drain:
            await super().run(stop, drain=True)
            return
        await beside(super().run(stop), self.settings.stream_claim_idle_ms / 1000, stop, self.requeue_stale)

    async def handle(self, batch: list[Delivery[ReplayRequestedPayload]]) -> None:
        entry_ids = [delivery.entry_id for delivery in batch]
        for delivery in batch:
            await self.replay(uuid.UUID(delivery.payload.run_id), entry_ids)

    async def replay(self, run_id: uuid.UUID, entry_ids: list[str]) -> None:
        """Replay the run if this worker can take it, keeping it and the batch's entries (`entry_ids`) meanwhile."""
        stored = await self._take(run_id)
        if stored is None:
            return
        replayed = asyncio.Event()
        keeper = asyncio.create_task(self._keep(run_id, entry_ids, replayed))
        try:
            result, status, error = await self._result(ReplayParams.model_validate(stored)), ReplayStatus.done, ""
        except (StoreUnavailable, *TRANSIENT_ERRORS):
            raise  # a store is down: the consumer retries the entry, the run stays `running` meanwhile
        except (RulesError, ReplayTimeout, InfluxError) as exc:
            result, status, error = None, ReplayStatus.failed, str(exc)[:2000]
        except Exception as exc:  # a bug or bad stored data: retrying gives the same, so the run says why it failed
            log.exception("replay failed", extra={"run_id": str(run_id)})
            result, status, error = None, ReplayStatus.failed, f"unexpected error: {type(exc).__name__}: {exc}"[:2000]
        finally:
            replayed.set()  # (not cancelled: the keeper ends between renewals, never within one)
            await keeper
        try:
            await self._conclude(run_id, status, result, error)
        except DataError as exc:  # a value JSONB refuses (a NUL an archived alert held): the same at every retry
            log.exception("replay result not stored", extra={"run_id": str(run_id)})
            error = f"the result could not be stored: {exc.orig}"[:2000]
            await self._conclude(run_id, ReplayStatus.failed, None, error)

    async def _conclude(self, run_id: uuid.UUID, status: ReplayStatus, result: dict[str, Any] | None,
                        error: str) -> None:
        """Store the outcome on the run, if this worker still owns it."""
        async with self.ctx.sessions.begin() as session:
            run = await session.get(ReplayRun, run_id, with_for_update=True)
            if run is not None and run.owner == self.consumer_name and run.status == ReplayStatus.running:
                run.status, run.result, run.error, run.finished_at = status, result, error, datetime.now(UTC)

    async def requeue_stale(self) -> None:
        """Queue again, and request, each run whose hold is stale: one whose owner stopped renewing it, one this
        sweep queued again that no worker took since (its request was lost), and one queued by the API that no
        worker took since it was created (heartbeat_at NULL: its request may never have been published; one that
        waits on the stream gets a second request, skipped as any for a run taken). The UPDATE takes each once
        across replicas, renewing heartbeat_at, so the run is requested again a period later if this request is
        lost too."""
        requested_at = func.coalesce(ReplayRun.heartbeat_at, ReplayRun.created_at)
        async with self.ctx.sessions.begin() as session:
            run_ids = (await session.scalars(
                update(ReplayRun).where(or_(
                    and_(ReplayRun.status == ReplayStatus.running, self._hold_stale()),
                    and_(ReplayRun.status == ReplayStatus.queued, requested_at < self._stale_cutoff())))
                .values(status=ReplayStatus.queued, owner=None, heartbeat_at=func.now())
                .returning(ReplayRun.id).execution_options(synchronize_session=False))).all()
        if run_ids:
            log.warning("stale replay runs queued again", extra={"run_ids": [str(run_id) for run_id in run_ids]})
            await self.bus.publish_many(self.stream, [
                Envelope(type=REPLAY_REQUESTED, source="worker",
                         payload=ReplayRequestedPayload(run_id=str(run_id)).model_dump()) for run_id in run_ids])

    def _stale_cutoff(self) -> ColumnElement[datetime]:
        """A hold renewed before this is stale: its owner stopped renewing it."""
        return func.now() - timedelta(milliseconds=self.settings.stream_claim_idle_ms)

    def _hold_stale(self) -> ColumnElement[bool]:
        """A running run's hold is stale: never renewed (running from before migration 0024), or not lately."""
        return or_(ReplayRun.heartbeat_at.is_(None), ReplayRun.heartbeat_at < self._stale_cutoff())

    async def _take(self, run_id: uuid.UUID) -> dict[str, Any] | None:
        """The run's params once this worker owns it: a queued run, one this worker held before a restart, or one
        whose owner did not renew its hold for STREAM_CLAIM_IDLE_MS; None for any other (finished, held, gone)."""
        takeable = or_(ReplayRun.status == ReplayStatus.queued, and_(
            ReplayRun.status == ReplayStatus.running, or_(ReplayRun.owner == self.consumer_name, self._hold_stale())))
        async with self.ctx.sessions.begin() as session:
            return await session.scalar(
                update(ReplayRun).where(ReplayRun.id == run_id, takeable)
                .values(status=ReplayStatus.running, owner=self.consumer_name, heartbeat_at=func.now())
                .returning(ReplayRun.params).execution_options(synchronize_session=False))

    async def _keep(self, run_id: uuid.UUID, entry_ids: list[str], replayed: asyncio.Event) -> None:
        """Renew the hold on the run, and claim the entries again (resetting their idle time, not counting a
        delivery), every third of STREAM_CLAIM_IDLE_MS, until `replayed` is set or another worker took the run over."""
        while not await sleep_or_stop(replayed, self.settings.stream_claim_idle_ms / 3000):
            try:
                async with self.ctx.sessions.begin() as session:
                    renewed = await session.execute(
                        update(ReplayRun).where(ReplayRun.id == run_id, ReplayRun.owner == self.consumer_name,
                                                ReplayRun.status == ReplayStatus.running)
                        .values(heartbeat_at=func.now()).execution_options(synchronize_session=False))
                if not renewed.rowcount:
                    return
                await self.redis.xclaim(self.stream_key, self.group_name, self.consumer_name, 0, entry_ids,
                                        justid=True)
            except Exception as exc:  # a store outage, or not (NOGROUP): tried again at the next renewal
                log.warning("replay hold not renewed", extra={"run_id": str(run_id), "error": repr(exc)})

    async def _result(self, params: ReplayParams) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.replay_timeout_s
        async with self.ctx.sessions() as session:
            inputs, truncated = await load_inputs(self.archive, self.ctx.influx, session, params, self.settings)
            automation_rules = await enabled_rules(session)
            did = await what_did(session, params.start, params.end)
        # Reading the rules file and compiling the candidate rules is file and CPU work: off the event loop too.
        candidate = await asyncio.to_thread(candidate_of, self.settings, params.changes, automation_rules)
        outcome = await asyncio.to_thread(simulate, inputs, candidate, deadline)  # CPU work, off the event loop
        replayed = {e.id for e in (*inputs.alerts, *inputs.logs, *outcome.alerts)}
        return {
            "starting_state": inputs.start.stated(),
            "inputs": {"alerts": len(inputs.alerts), "log_envelopes": len(inputs.logs),
                       "metric_points": len(inputs.points), "skipped": outcome.skipped, "truncated": truncated},
            **compare(outcome, did, inputs.alerts, replayed),
        }
