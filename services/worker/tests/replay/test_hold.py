"""A replay run held by one worker replica at a time, on real Redis and PostgreSQL: the replica replaying a run
renews its hold and keeps its entry; another skips a run held and renewed, takes over one whose owner stopped; the
sweep queues again a run whose owner stopped when no entry is left to deliver it, and requests one the API never
requested; a renewal that fails is logged, never put in place of the replay's result."""

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import ColumnElement, func, update

from aiops_contracts.db import ReplayRun
from aiops_contracts.envelope import Envelope
from aiops_contracts.replay import REPLAY_REQUESTED, ReplayParams, ReplayRequestedPayload, ReplayStatus
from aiops_contracts.streams import REPLAY_REQUESTED as REPLAY_STREAM
from aiops_worker.replay.task import ReplayTask
from aiops_worker.runtime.context import WorkerContext
from conftest import until

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
PARAMS = ReplayParams(start=T0, end=T0 + timedelta(minutes=5), metrics=False)


class GatedReplay(ReplayTask):
    """The real task, whose replay itself (what a large range takes minutes for) lasts until the test releases it."""

    started: list[str] = []
    release = asyncio.Event()

    async def _result(self, params: ReplayParams) -> dict[str, Any]:
        self.started.append(self.consumer_name)
        await self.release.wait()
        return await super()._result(params)


async def add_run(ctx: WorkerContext) -> uuid.UUID:
    """A queued run, not yet requested on the stream."""
    run_id = uuid.uuid4()
    async with ctx.sessions.begin() as session:
        session.add(ReplayRun(id=run_id, requested_by="test", status=ReplayStatus.queued,
                              params=PARAMS.model_dump(mode="json")))
    return run_id


async def queue_run(ctx: WorkerContext) -> uuid.UUID:
    run_id = await add_run(ctx)
    await ctx.bus.publish(REPLAY_STREAM, Envelope(type=REPLAY_REQUESTED, source="api",
                                                  payload=ReplayRequestedPayload(run_id=str(run_id)).model_dump()))
    return run_id


async def set_run(ctx: WorkerContext, run_id: uuid.UUID, **values: Any) -> None:
    async with ctx.sessions.begin() as session:
        await session.execute(update(ReplayRun).where(ReplayRun.id == run_id).values(**values))


def stale(ctx: WorkerContext) -> ColumnElement[datetime]:
    """A heartbeat as old as a hold whose owner stopped renewing it."""
    return func.now() - timedelta(milliseconds=ctx.settings.stream_claim_idle_ms)


async def stored_run(ctx: WorkerContext, run_id: uuid.UUID) -> ReplayRun:
    async with ctx.sessions() as session:
        run = await session.get(ReplayRun, run_id)
    assert run is not None
    return run


async def heartbeat(ctx: WorkerContext, run_id: uuid.UUID) -> datetime:
    beat = (await stored_run(ctx, run_id)).heartbeat_at
    assert beat is not None
    return beat


async def started() -> list[str]:
    return GatedReplay.started


async def done(ctx: WorkerContext, *run_ids: uuid.UUID) -> bool:
    return all([(await stored_run(ctx, run_id)).status == ReplayStatus.done for run_id in run_ids])


async def test_a_long_replay_runs_on_one_replica_that_keeps_its_entry(worker_ctx: WorkerContext, redis: Redis) -> None:
    """Two scaled replicas: the one replaying renews its hold on the run and keeps its stream entry, so the other
    never takes the entry over (XAUTOCLAIM after stream_claim_idle_ms, here 2 s: renewals every 0.67 s leave
    room for a loaded test machine) to replay the same run again."""
    run_id = await queue_run(worker_ctx)
    first, second = (GatedReplay(replace(worker_ctx, settings=worker_ctx.settings.model_copy(
        update={"worker_name": name, "stream_claim_idle_ms": 2_000}))) for name in ("replica-a", "replica-b"))
    GatedReplay.started, GatedReplay.release = [], asyncio.Event()
    stop = asyncio.Event()
    running = [asyncio.create_task(first.run(stop))]
    try:
        await until(started, 10, "replica-a starts the replay")
        running.append(asyncio.create_task(second.run(stop)))
        taken = (await stored_run(worker_ctx, run_id)).heartbeat_at
        assert taken is not None
        idle = timedelta(milliseconds=first.settings.stream_claim_idle_ms)

        async def renewed_long_after() -> bool:  # long enough for replica-b to have claimed an entry left idle
            heartbeat = (await stored_run(worker_ctx, run_id)).heartbeat_at
            return heartbeat is not None and heartbeat >= taken + 2 * idle

        await until(renewed_long_after, 30, "replica-a renews its hold")
        pending = await redis.xpending_range(worker_ctx.bus.key(REPLAY_STREAM), ReplayTask.name, "-", "+", 10)
        assert [(p["consumer"], p["times_delivered"]) for p in pending] == [(b"replica-a", 1)]
        assert GatedReplay.started == ["replica-a"]

        GatedReplay.release.set()
        await until(lambda: done(worker_ctx, run_id), 10, "replica-a finishes the run")
    finally:
        GatedReplay.release.set()
        stop.set()
        await asyncio.gather(*running)
    run = await stored_run(worker_ctx, run_id)
    assert (run.owner, run.result is not None, GatedReplay.started) == ("replica-a", True, ["replica-a"])


async def test_a_run_a_live_worker_holds_is_skipped_and_a_stale_one_taken_over(worker_ctx: WorkerContext,
                                                                             drain) -> None:
    """A run `running` on replica-a that renewed its hold just now is not replayed again by another worker (the
    entry it got is a second one: replica-a keeps its own); once replica-a stopped renewing it for
    stream_claim_idle_ms (it stopped), the next delivery takes the run over and finishes it."""
    run_id = await queue_run(worker_ctx)
    # renewed just now, as far as any worker of this test can tell (not within stream_claim_idle_ms of a slow drain)
    await set_run(worker_ctx, run_id, status=ReplayStatus.running, owner="replica-a",
                  heartbeat_at=func.now() + timedelta(hours=1))
    await drain(ReplayTask(worker_ctx))
    held = await stored_run(worker_ctx, run_id)
    assert (held.status, held.owner, held.result) == (ReplayStatus.running, "replica-a", None)

    await set_run(worker_ctx, run_id, heartbeat_at=stale(worker_ctx))
    await worker_ctx.bus.publish(REPLAY_STREAM, Envelope(type=REPLAY_REQUESTED, source="api",
                                                         payload=ReplayRequestedPayload(run_id=str(run_id)).model_dump()))
    await drain(ReplayTask(worker_ctx))
    taken = await stored_run(worker_ctx, run_id)
    assert (taken.status, taken.owner) == (ReplayStatus.done, "test-worker") and taken.result is not None


async def test_a_run_whose_owner_stopped_is_queued_again_with_no_entry_left(worker_ctx: WorkerContext) -> None:
    """replica-a held a run; the run's only entry was acked by a worker that skipped the run while replica-a renewed
    its hold (XACK acts on the whole group); then replica-a stopped. Another run, queued again by the sweep, lost
    its entry (Redis refused the publish). Nothing is left on the stream for either: the sweep queues each again
    once its hold is stale, and this worker replays both."""
    held, requeued = await add_run(worker_ctx), await add_run(worker_ctx)
    await set_run(worker_ctx, held, status=ReplayStatus.running, owner="replica-a", heartbeat_at=stale(worker_ctx))
    await set_run(worker_ctx, requeued, heartbeat_at=stale(worker_ctx))
    stop = asyncio.Event()
    running = asyncio.create_task(ReplayTask(worker_ctx).run(stop))
    try:
        await until(lambda: done(worker_ctx, held, requeued), 10, "the sweep has both runs replayed")
    finally:
        stop.set()
        await running
    for run_id in (held, requeued):
        run = await stored_run(worker_ctx, run_id)
        assert (run.owner, run.result is not None) == ("test-worker", True)


async def test_a_run_the_api_never_requested_is_requested_by_the_sweep(worker_ctx: WorkerContext) -> None:
    """The API committed a run but never published its request, nor marked the run failed (it was killed in
    between, or PostgreSQL failed the mark after Redis failed the publish): the run is queued, never held, never
    requested. Once it was created stream_claim_idle_ms ago, the sweep requests it, and this worker replays it."""
    run_id = await add_run(worker_ctx)
    await set_run(worker_ctx, run_id, created_at=stale(worker_ctx))
    stop = asyncio.Event()
    running = asyncio.create_task(ReplayTask(worker_ctx).run(stop))
    try:
        await until(lambda: done(worker_ctx, run_id), 10, "the sweep has the run replayed")
    finally:
        stop.set()
        await running


async def test_a_renewal_that_fails_is_logged_and_the_result_still_stored(worker_ctx: WorkerContext,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Claiming the entry again fails with an error that is no store outage (NOGROUP: the group is gone): logged,
    and tried again at the next renewal (the hold is still renewed), never raised in place of the replay's result."""
    run_id = await add_run(worker_ctx)  # the task never ran: its group does not exist
    GatedReplay.started, GatedReplay.release = [], asyncio.Event()
    replaying = asyncio.create_task(GatedReplay(worker_ctx).replay(run_id, ["1-1"]))
    try:
        await until(started, 10, "the replay starts")
        taken = await heartbeat(worker_ctx, run_id)
        period = timedelta(milliseconds=worker_ctx.settings.stream_claim_idle_ms / 3)

        async def renewed_twice() -> bool:  # the second time after the first renewal's claim failed
            return await heartbeat(worker_ctx, run_id) >= taken + 2 * period

        await until(renewed_twice, 10, "the hold is still renewed")
    finally:
        GatedReplay.release.set()
    await replaying
    run = await stored_run(worker_ctx, run_id)
    assert (run.status, run.result is not None) == (ReplayStatus.done, True)
    assert "replay hold not renewed" in caplog.messages
