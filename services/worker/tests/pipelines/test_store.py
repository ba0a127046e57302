"""The run upsert on real PostgreSQL: a run's state only moves forward (queued, in progress, completed; within
one state, to a read with more jobs), so a delivery replayed or arriving late never takes a completed run back."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aiops_contracts.db import PipelineJob, PipelineRun
from aiops_contracts.pipelines import JobIn, PipelineRunPayload, Provider
from aiops_worker.pipelines.store import store_run

START = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _run(status: str, conclusion: str | None = None, jobs: int = 0) -> PipelineRunPayload:
    return PipelineRunPayload(
        provider=Provider.github_actions, pipeline_key="octo/app/.github/workflows/ci.yml", pipeline_name="octo/app",
        external_id="30433642:1", number=7, status=status, conclusion=conclusion, queued_at=START,
        started_at=START + timedelta(seconds=5),
        finished_at=START + timedelta(minutes=9) if status == "completed" else None,
        jobs=[JobIn(external_id=str(n), name=f"job {n}") for n in range(jobs)])


async def test_late_or_replayed_earlier_state_never_takes_a_completed_run_back(sessions, clean_db) -> None:
    for run in (_run("in_progress", jobs=1), _run("completed", "failure", jobs=2), _run("in_progress", jobs=1),
                _run("queued"), _run("completed", "failure")):  # the last: the webhook's read, without the jobs
        async with sessions.begin() as session:
            _, features = await store_run(session, "octo-ci", run)
    async with sessions() as session:
        stored = await session.scalar(select(PipelineRun))
        jobs = (await session.scalars(select(PipelineJob.external_id))).all()
    assert (stored.status, stored.conclusion, stored.finished_at) == ("completed", "failure", START + timedelta(minutes=9))
    assert sorted(jobs) == ["0", "1"] and stored.features["job_count"] == 2
    assert features == stored.features  # what the caller gets is what is stored, not the stale delivery's


async def test_later_state_and_a_fuller_read_of_the_same_state_replace_the_run(sessions, clean_db) -> None:
    for run in (_run("queued"), _run("in_progress", jobs=1), _run("completed", "success"),
                _run("completed", "success", jobs=3)):
        async with sessions.begin() as session:
            await store_run(session, "octo-ci", run)
    async with sessions() as session:
        stored = await session.scalar(select(PipelineRun))
    assert (stored.status, stored.conclusion, stored.features["job_count"]) == ("completed", "success", 3)
