"""PostgreSQL side of the pipelines domain: runs upserted with their jobs, steps, tests and commit (a run seen
again, by a later poll or the webhook, replaces its children), and builds read back for the analyses.

A run only moves forward: queued (requested, waiting, pending) < in_progress < completed, and within one state a
read with more jobs replaces one with fewer (the poller reads the jobs, the webhook does not). A delivery of the
stored state or an earlier one (late, out of order, or a signed body replayed under a new, unsigned, delivery id)
leaves the stored run as it is and is not stored: the delivery that stored that state made its alerts. A re-run
is another row (GitHub's `run_attempt` is part of the external id)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import Pipeline, PipelineCommit, PipelineJob, PipelineRun, PipelineStep, PipelineTest
from aiops_contracts.pipelines import PipelineRunPayload
from aiops_worker.pipelines.features import Build, TestRun, build_features, flaky_tests

_STAGES = {"in_progress": 1, "completed": 2}  # any other status (queued, requested, waiting, pending) is 0


async def store_run(session: AsyncSession, source: str,
                    run: PipelineRunPayload) -> tuple[uuid.UUID, dict[str, Any]] | None:
    """Upserts the run (and its pipeline, commit and children); returns the pipeline id and the run's features, or
    None when the run is stored in this state or a later one already (nothing written)."""
    pipeline_id = await session.scalar(
        insert(Pipeline).values(provider=run.provider.value, key=run.pipeline_key, name=run.pipeline_name,
                                source=source, url=run.pipeline_url)
        .on_conflict_do_update(index_elements=["provider", "key"],
                               set_={"name": run.pipeline_name, "url": run.pipeline_url, "updated_at": datetime.now()})
        .returning(Pipeline.id))
    assert pipeline_id is not None
    if run.commit:
        await session.execute(insert(PipelineCommit).values(
            pipeline_id=pipeline_id, sha=run.commit.sha, message=run.commit.message, author=run.commit.author,
            committed_at=run.commit.committed_at, files=run.commit.files).on_conflict_do_nothing())
    features = build_features(run)
    values = {"number": run.number, "attempt": run.attempt, "status": run.status, "conclusion": run.conclusion,
              "branch": run.branch, "event": run.event, "commit_sha": run.commit.sha if run.commit else None,
              "runner": run.runner or next((j.runner for j in run.jobs if j.runner), None),
              "queued_at": run.queued_at, "started_at": run.started_at, "finished_at": run.finished_at,
              "url": run.url, "features": features}
    run_id = await session.scalar(
        insert(PipelineRun).values(pipeline_id=pipeline_id, external_id=run.external_id, **values)
        .on_conflict_do_update(index_elements=["pipeline_id", "external_id"], set_=values,
                               where=_progress(PipelineRun.status, _stored_jobs()) < _progress(
                                   literal(run.status), literal(len(run.jobs))))
        .returning(PipelineRun.id))
    if run_id is None:
        return None
    await _replace_children(session, run_id, run)
    if run.commit and run.tests:
        flaky = await _flaky_on_commit(session, pipeline_id, run.commit.sha)
        features = {**features, "flaky_tests": sorted(flaky)[:50], "flaky_count": len(flaky)}
        await session.execute(PipelineRun.__table__.update().where(PipelineRun.id == run_id).values(features=features))
    return pipeline_id, features


def _progress(status: ColumnElement[str], jobs: ColumnElement[int]) -> ColumnElement[Any]:
    return tuple_(case(_STAGES, value=status, else_=0), jobs)


def _stored_jobs() -> ColumnElement[int]:
    return func.coalesce(PipelineRun.features["job_count"].as_integer(), 0)


async def stored_run(session: AsyncSession, run: PipelineRunPayload) -> tuple[uuid.UUID, dict[str, Any]] | None:
    """The pipeline id and stored features of a run stored before; None when it is not there."""
    row = (await session.execute(
        select(PipelineRun.pipeline_id, PipelineRun.features).join(Pipeline, Pipeline.id == PipelineRun.pipeline_id)
        .where(Pipeline.provider == run.provider.value, Pipeline.key == run.pipeline_key,
               PipelineRun.external_id == run.external_id))).first()
    return (row.pipeline_id, dict(row.features or {})) if row else None


async def _replace_children(session: AsyncSession, run_id: uuid.UUID, run: PipelineRunPayload) -> None:
    await session.execute(delete(PipelineJob).where(PipelineJob.run_id == run_id))
    await session.execute(delete(PipelineTest).where(PipelineTest.run_id == run_id))
    for job in run.jobs:
        job_id = await session.scalar(insert(PipelineJob).values(
            run_id=run_id, external_id=job.external_id, name=job.name, runner=job.runner, conclusion=job.conclusion,
            started_at=job.started_at, finished_at=job.finished_at).returning(PipelineJob.id))
        if job.steps:
            await session.execute(insert(PipelineStep), [
                {"job_id": job_id, "number": s.number, "name": s.name, "conclusion": s.conclusion,
                 "started_at": s.started_at, "finished_at": s.finished_at} for s in job.steps])
    tests = {t.name: t for t in run.tests}  # a name reported twice (a retried test) counts once, its last outcome
    if tests:
        await session.execute(insert(PipelineTest), [
            {"run_id": run_id, "name": t.name, "file": t.file, "outcome": t.outcome.value, "duration_s": t.duration_s}
            for t in tests.values()])


async def _flaky_on_commit(session: AsyncSession, pipeline_id: uuid.UUID, sha: str) -> set[str]:
    rows = await session.execute(
        select(PipelineRun.commit_sha, PipelineTest.name, PipelineTest.outcome)
        .join(PipelineTest, PipelineTest.run_id == PipelineRun.id)
        .where(PipelineRun.pipeline_id == pipeline_id, PipelineRun.commit_sha == sha))
    return flaky_tests((str(a), str(b), str(c)) for a, b, c in rows.all())


async def recent_builds(session: AsyncSession, pipeline_id: uuid.UUID, limit: int, *,
                        with_tests: bool = False) -> list[Build]:
    """The last `limit` completed builds, oldest first (with their tests and commits for the RCA)."""
    rows = (await session.execute(
        select(PipelineRun.id, PipelineRun.finished_at, PipelineRun.features, PipelineRun.runner,
               PipelineRun.commit_sha, PipelineCommit.files, PipelineCommit.message)
        .outerjoin(PipelineCommit, (PipelineCommit.pipeline_id == PipelineRun.pipeline_id)
                   & (PipelineCommit.sha == PipelineRun.commit_sha))
        .where(PipelineRun.pipeline_id == pipeline_id, PipelineRun.status == "completed",
               PipelineRun.finished_at.is_not(None))
        .order_by(PipelineRun.finished_at.desc()).limit(limit))).all()
    rows.reverse()
    tests: dict[uuid.UUID, dict[str, TestRun]] = {}
    if with_tests and rows:
        found = await session.execute(select(PipelineTest.run_id, PipelineTest.name, PipelineTest.outcome,
                                             PipelineTest.duration_s, PipelineTest.file)
                                      .where(PipelineTest.run_id.in_([r.id for r in rows])))
        for run_id, name, outcome, duration, file in found.all():
            tests.setdefault(run_id, {})[name] = TestRun(outcome, duration, file)
    return [Build(r.finished_at.timestamp(), dict(r.features or {}), r.runner, r.commit_sha, tuple(r.files or ()),
                  r.message or "", tests.get(r.id, {})) for r in rows]
