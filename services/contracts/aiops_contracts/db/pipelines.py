"""CI/CD pipelines: a workflow (GitHub Actions) or job (Jenkins), its runs with their jobs, steps and tests, the
commits they built, and the worker's daily health score with its forecasts and root-cause analysis."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey

_CASCADE = "CASCADE"


class Pipeline(UUIDPrimaryKey, Timestamps, Base):
    """One per provider and key: `owner/repo/.github/workflows/ci.yml` (GitHub Actions), a job's full name (Jenkins)."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("provider", "key"),)

    provider: Mapped[str] = mapped_column(String(20))  # github_actions, jenkins
    key: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(100))  # the source (credential) it came from
    url: Mapped[str | None] = mapped_column(String(2000))


class PipelineRun(UUIDPrimaryKey, Base):
    """A build, with its features (pipelines/features.py in the worker) stored beside it."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (UniqueConstraint("pipeline_id", "external_id"),)

    # (indexed first in the list's index below)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id", ondelete=_CASCADE))
    external_id: Mapped[str] = mapped_column(String(100))  # run id + attempt, build number
    number: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))  # queued, in_progress, completed
    conclusion: Mapped[str | None] = mapped_column(String(20))  # success, failure, cancelled, ...
    branch: Mapped[str | None] = mapped_column(String(255))
    event: Mapped[str | None] = mapped_column(String(50))  # push, pull_request, schedule, ...
    commit_sha: Mapped[str | None] = mapped_column(String(64), index=True)
    runner: Mapped[str | None] = mapped_column(String(200))
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    url: Mapped[str | None] = mapped_column(String(2000))
    features: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# A run's place in its pipeline's list of runs (GET /api/v1/pipelines/{id}/runs): when it started; not started yet,
# when it was queued (or first seen), as GitHub lists a waiting run among those created with it. Never NULL, so
# every run is reachable by the cursor. The list orders by this very expression and the index below is built on
# it (migration 0025): a page is one range of the index, not a sort of all of the pipeline's runs.
RUN_AT = func.coalesce(PipelineRun.__table__.c.started_at, PipelineRun.__table__.c.queued_at,
                       PipelineRun.__table__.c.created_at)
Index("ix_pipeline_runs_pipeline_id_run_at_id", PipelineRun.__table__.c.pipeline_id, RUN_AT,
      PipelineRun.__table__.c.id)


class PipelineJob(UUIDPrimaryKey, Base):
    __tablename__ = "pipeline_jobs"
    __table_args__ = (UniqueConstraint("run_id", "external_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline_runs.id", ondelete=_CASCADE), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    runner: Mapped[str | None] = mapped_column(String(200))
    conclusion: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PipelineStep(UUIDPrimaryKey, Base):
    __tablename__ = "pipeline_steps"
    __table_args__ = (UniqueConstraint("job_id", "number"),)

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline_jobs.id", ondelete=_CASCADE), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    conclusion: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PipelineTest(UUIDPrimaryKey, Base):
    __tablename__ = "pipeline_tests"
    __table_args__ = (UniqueConstraint("run_id", "name"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline_runs.id", ondelete=_CASCADE), index=True)
    name: Mapped[str] = mapped_column(String(500))
    file: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(20))  # passed, failed, skipped
    duration_s: Mapped[float | None] = mapped_column(Float)


class PipelineCommit(UUIDPrimaryKey, Base):
    __tablename__ = "pipeline_commits"
    __table_args__ = (UniqueConstraint("pipeline_id", "sha"),)

    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id", ondelete=_CASCADE), index=True)
    sha: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(255))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    files: Mapped[list[str]] = mapped_column(JSONB, default=list)  # paths the commit changed, when known


class PipelineScore(UUIDPrimaryKey, Base):
    """The worker's analysis of a pipeline, one row per day: health score and grade with its dimensions,
    the 7-day forecasts and, for a degraded pipeline, the root-cause analysis."""

    __tablename__ = "pipeline_scores"
    __table_args__ = (UniqueConstraint("pipeline_id", "day"),)

    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id", ondelete=_CASCADE), index=True)
    day: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(1))
    dimensions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    forecasts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    rca: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
