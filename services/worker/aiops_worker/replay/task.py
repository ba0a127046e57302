"""Dry-run replays (`replay.requested`, from POST /api/v1/replay): read the run's inputs, replay them in a thread
(replay/engine.py) within REPLAY_TIMEOUT_S and REPLAY_MAX_EVENTS, compare with what did happen (replay/diff.py)
and store the result on the run. Nothing else is written: no incident, alert, stream entry or automation run.

Idempotent: a run that is done or failed is not replayed again; one left `running` by a stopped worker is
replayed again when its entry is delivered again. Any error but a store outage ends the run `failed` with the
reason, and its entry is acked: replaying it again would fail the same way.
"""

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiops_contracts.db import ReplayRun
from aiops_contracts.influx import InfluxError
from aiops_contracts.replay import ReplayParams, ReplayRequestedPayload, ReplayStatus
from aiops_contracts.streams import REPLAY_REQUESTED
from aiops_worker.archive.store import open_archive
from aiops_worker.automations.rules import enabled_rules
from aiops_worker.logs.rules import RulesError
from aiops_worker.replay.diff import compare
from aiops_worker.replay.engine import ReplayTimeout, candidate_of, simulate
from aiops_worker.replay.inputs import load_inputs, what_did
from aiops_worker.runtime.consumer import TRANSIENT_ERRORS, Delivery, StoreUnavailable, StreamConsumer
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)

_FINISHED = (ReplayStatus.done, ReplayStatus.failed)


class ReplayTask(StreamConsumer[ReplayRequestedPayload]):
    name = "replay"
    stream = REPLAY_REQUESTED
    payload_model = ReplayRequestedPayload
    scales_out = True  # no state kept between runs: each starts fresh

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.archive = open_archive(ctx.settings, ctx.sessions)

    async def handle(self, batch: list[Delivery[ReplayRequestedPayload]]) -> None:
        for delivery in batch:
            await self.replay(uuid.UUID(delivery.payload.run_id))

    async def replay(self, run_id: uuid.UUID) -> None:
        async with self.ctx.sessions.begin() as session:
            run = await session.get(ReplayRun, run_id, with_for_update=True)
            if run is None or run.status in _FINISHED:
                return
            run.status = ReplayStatus.running
            stored = run.params
        try:
            result, status, error = await self._result(ReplayParams.model_validate(stored)), ReplayStatus.done, ""
        except (StoreUnavailable, *TRANSIENT_ERRORS):
            raise  # a store is down: the consumer retries the entry, the run stays `running` meanwhile
        except (RulesError, ReplayTimeout, InfluxError) as exc:
            result, status, error = None, ReplayStatus.failed, str(exc)[:2000]
        except Exception as exc:  # a bug or bad stored data: retrying gives the same, so the run says why it failed
            log.exception("replay failed", extra={"run_id": str(run_id)})
            result, status, error = None, ReplayStatus.failed, f"unexpected error: {type(exc).__name__}: {exc}"[:2000]
        async with self.ctx.sessions.begin() as session:
            run = await session.get(ReplayRun, run_id, with_for_update=True)
            if run is not None:
                run.status, run.result, run.error, run.finished_at = status, result, error, datetime.now(UTC)

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
