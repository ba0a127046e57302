"""GitHub Actions objects to `pipeline.run_received` payloads, for both readers of them: the API's `workflow_run`
webhook and the worker's poller. A workflow run has the same shape in both (the REST API's
`GET /repos/{owner}/{repo}/actions/runs` items and the webhook's `workflow_run`), and so has a job
(`GET .../runs/{run_id}/attempts/{attempt}/jobs`, with its `steps`)."""

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from aiops_contracts.pipelines import CommitIn, JobIn, PipelineRunPayload, Provider, StepIn


class NotAWorkflowRun(ValueError):
    """The object lacks what a workflow run always has (id, repository, status)."""


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) and value else None


def pipeline_key(run: dict[str, Any]) -> str:
    """`owner/repo/.github/workflows/ci.yml`: the workflow file names the pipeline, whatever its display name."""
    repository = run.get("repository") or {}
    return f"{repository.get('full_name')}/{run.get('path') or run.get('workflow_id')}"


def job_in(job: dict[str, Any]) -> JobIn:
    labels = [str(label) for label in job.get("labels") or []]
    runner = job.get("runner_name") or (",".join(labels) if labels else None)
    return JobIn(
        external_id=str(job["id"]), name=str(job.get("name") or job["id"])[:300],
        runner=str(runner)[:200] if runner else None, conclusion=job.get("conclusion"),
        started_at=_time(job.get("started_at")), finished_at=_time(job.get("completed_at")),
        steps=[StepIn(number=int(s.get("number") or i), name=str(s.get("name") or "")[:300],
                      conclusion=s.get("conclusion"), started_at=_time(s.get("started_at")),
                      finished_at=_time(s.get("completed_at")))
               for i, s in enumerate(job.get("steps") or [], start=1)],
    )


def run_payload(run: dict[str, Any], jobs: list[dict[str, Any]] | None = None) -> PipelineRunPayload:
    """The payload of a workflow run (and its jobs when read); raises NotAWorkflowRun on a malformed object."""
    try:
        repository = run["repository"]["full_name"]
        commit = run.get("head_commit") or {}
        completed = run["status"] == "completed"
        return PipelineRunPayload(
            provider=Provider.github_actions, pipeline_key=pipeline_key(run)[:500],
            pipeline_name=f"{repository}: {run.get('name') or run.get('path')}"[:300],
            pipeline_url=(run["repository"].get("html_url") or None),
            external_id=f"{run['id']}:{run.get('run_attempt') or 1}", number=run.get("run_number"),
            attempt=int(run.get("run_attempt") or 1), status=str(run["status"])[:20],
            conclusion=run.get("conclusion"), branch=run.get("head_branch"), event=run.get("event"),
            queued_at=_time(run.get("created_at")), started_at=_time(run.get("run_started_at")),
            finished_at=_time(run.get("updated_at")) if completed else None, url=run.get("html_url"),
            commit=CommitIn(sha=str(run.get("head_sha") or commit.get("id") or "")[:64],
                            message=str(commit.get("message") or "")[:10_000],
                            author=((commit.get("author") or {}).get("name") or None),
                            committed_at=_time(commit.get("timestamp"))) if run.get("head_sha") else None,
            jobs=[job_in(j) for j in jobs or []],
        )
    except (KeyError, TypeError, AttributeError, ValueError, ValidationError) as exc:
        raise NotAWorkflowRun(f"not a workflow run: {exc}") from exc
