"""The run upsert on real PostgreSQL and Redis: a run's state only moves forward (queued, in progress, completed;
within one state, to a read with more jobs), so a delivery replayed or arriving late never takes a completed run
back, and a signed body sent again under a new delivery id (not signed) changes and announces nothing."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aiops_contracts.db import PipelineJob, PipelineRun
from aiops_contracts.envelope import Envelope
from aiops_contracts.pipelines import PIPELINE_RUN_RECEIVED, JobIn, PipelineRunPayload, Provider
from aiops_contracts.streams import ALERTS_INGESTED, PIPELINES_RUNS
from aiops_worker.pipelines.store import store_run
from aiops_worker.pipelines.task import PipelineRunTask

START = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _run(status: str, conclusion: str | None = None, jobs: int = 0) -> PipelineRunPayload:
    return PipelineRunPayload(
        provider=Provider.github_actions, pipeline_key="octo/app/.github/workflows/ci.yml", pipeline_name="octo/app",
        external_id="30433642:1", number=7, status=status, conclusion=conclusion, queued_at=START,
        started_at=START + timedelta(seconds=5),
        finished_at=START + timedelta(minutes=9) if status == "completed" else None,
        jobs=[JobIn(external_id=str(n), name=f"job {n}") for n in range(jobs)])


async def test_late_or_replayed_earlier_state_never_takes_a_completed_run_back(sessions, clean_db) -> None:
    stored_or_not = []
    for run in (_run("in_progress", jobs=1), _run("completed", "failure", jobs=2), _run("in_progress", jobs=1),
                _run("queued"), _run("completed", "failure")):  # the last: the webhook's read, without the jobs
        async with sessions.begin() as session:
            stored_or_not.append(await store_run(session, "octo-ci", run) is not None)
    async with sessions() as session:
        stored = await session.scalar(select(PipelineRun))
        jobs = (await session.scalars(select(PipelineJob.external_id))).all()
    assert (stored.status, stored.conclusion, stored.finished_at) == ("completed", "failure", START + timedelta(minutes=9))
    assert sorted(jobs) == ["0", "1"] and stored.features["job_count"] == 2
    assert stored_or_not == [True, True, False, False, False]


async def test_later_state_and_a_fuller_read_of_the_same_state_replace_the_run(sessions, clean_db) -> None:
    for run in (_run("queued"), _run("in_progress", jobs=1), _run("completed", "success"),
                _run("completed", "success", jobs=3)):
        async with sessions.begin() as session:
            await store_run(session, "octo-ci", run)
    async with sessions() as session:
        stored = await session.scalar(select(PipelineRun))
    assert (stored.status, stored.conclusion, stored.features["job_count"]) == ("completed", "success", 3)


async def test_a_signed_body_sent_again_under_a_new_delivery_id_announces_nothing(worker_ctx, drain) -> None:
    async def deliver(envelope_id: str, run: PipelineRunPayload) -> list[str]:
        await worker_ctx.bus.publish(PIPELINES_RUNS, Envelope(id=envelope_id, type=PIPELINE_RUN_RECEIVED,
                                                              source="octo-ci", payload=run.model_dump(mode="json")))
        await drain(PipelineRunTask(worker_ctx))
        return [Envelope.from_entry(f).id for _, f in await worker_ctx.redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))]

    failed = _run("completed", "failure", jobs=1)
    alerts = await deliver("delivery-1", failed)
    assert len(alerts) == 1  # the build failure
    assert await deliver("delivery-2", failed) == alerts  # replayed: no alert again (and none once the ledger forgot)
    assert await deliver("delivery-3", _run("in_progress", jobs=1)) == alerts
    async with worker_ctx.sessions() as session:
        assert (await session.scalar(select(PipelineRun.status))) == "completed"
