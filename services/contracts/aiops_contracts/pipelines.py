"""`pipeline.run_received`: one CI/CD run as a collector (GitHub Actions, Jenkins) or the GitHub webhook saw it,
normalised to one shape for the worker's `pipelines-store` task."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

PIPELINE_RUN_RECEIVED = "pipeline.run_received"
PIPELINES_SOURCE = "pipelines"  # the source of the worker's pipeline alerts (failed builds, build anomalies)


class Provider(StrEnum):
    github_actions = "github_actions"
    jenkins = "jenkins"


class TestOutcome(StrEnum):
    __test__ = False  # not a pytest class
    passed = "passed"
    failed = "failed"
    skipped = "skipped"


class StepIn(BaseModel):
    number: int
    name: str = Field(max_length=300)
    conclusion: str | None = Field(default=None, max_length=20)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobIn(BaseModel):
    external_id: str = Field(max_length=100)
    name: str = Field(max_length=300)
    runner: str | None = Field(default=None, max_length=200)
    conclusion: str | None = Field(default=None, max_length=20)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    steps: list[StepIn] = Field(default_factory=list)


class TestIn(BaseModel):
    __test__ = False
    name: str = Field(max_length=500)
    file: str | None = Field(default=None, max_length=500)
    outcome: TestOutcome
    duration_s: float | None = None


class CommitIn(BaseModel):
    sha: str = Field(max_length=64)
    message: str = Field(default="", max_length=10_000)
    author: str | None = Field(default=None, max_length=255)
    committed_at: datetime | None = None
    files: list[str] = Field(default_factory=list)


class PipelineRunPayload(BaseModel):
    provider: Provider
    pipeline_key: str = Field(min_length=1, max_length=500)
    pipeline_name: str = Field(min_length=1, max_length=300)
    pipeline_url: str | None = Field(default=None, max_length=2_000)
    external_id: str = Field(min_length=1, max_length=100)
    number: int | None = None
    attempt: int = 1
    status: str = Field(max_length=20)  # queued, in_progress, completed
    conclusion: str | None = Field(default=None, max_length=20)  # success, failure, cancelled, timed_out, ...
    branch: str | None = Field(default=None, max_length=255)
    event: str | None = Field(default=None, max_length=50)
    runner: str | None = Field(default=None, max_length=200)
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    url: str | None = Field(default=None, max_length=2_000)
    commit: CommitIn | None = None
    jobs: list[JobIn] = Field(default_factory=list)
    tests: list[TestIn] = Field(default_factory=list)
    # Counts a provider reports without the test list (Jenkins' testReport summary), used when `tests` is empty.
    test_count: int | None = None
    failure_count: int | None = None

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def failed(self) -> bool:
        return self.conclusion in FAILED_CONCLUSIONS


FAILED_CONCLUSIONS = ("failure", "timed_out", "startup_failure")
_RUN_NAMESPACE = uuid.UUID("b6f1e0a4-4c1d-4f0e-8e54-0d7a2c9f3b61")


def run_event_id(source: str, run: PipelineRunPayload) -> str:
    """The same run in the same state, read by two polls, gives the same envelope id (dropped the second time)."""
    state = f"{run.status}|{run.conclusion}|{run.finished_at}|{len(run.jobs)}|{len(run.tests)}"
    return uuid.uuid5(_RUN_NAMESPACE, f"{source}|{run.provider}|{run.pipeline_key}|{run.external_id}|{state}").hex
