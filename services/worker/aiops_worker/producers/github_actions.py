"""GitHub Actions poller: the workflow runs of each repository (REST API), with the jobs and steps of each
completed run, as `pipeline.run_received` on `aiops:pipelines:runs`.

- `GET /repos/{owner}/{repo}/actions/runs` newest first, `per_page` a page, following the `Link: rel="next"`
  header for at most `max_pages` pages and only while a page still holds runs not read before;
- each completed run's jobs once (`GET .../actions/runs/{id}/attempts/{attempt}/jobs`, paginated the same way);
- conditional requests: each URL's ETag goes back as `If-None-Match`, and a 304 (nothing changed, and free of
  the rate limit) ends that listing;
- the rate limit: `X-RateLimit-Remaining` and `X-RateLimit-Reset` are read from every answer; below
  `min_rate_remaining` the poll stops and the next ones wait for the reset (a 429 or a secondary limit's
  Retry-After is waited out by producers/http.py).
Incremental within the poller's life (runs read are remembered, as many as its listings can show, the
oldest forgotten first; ETags of the listing pages only, a run's jobs being read once); after a restart the
first pages are read again, which the store's upserts and the envelope ids (run and state) make harmless.
Both are remembered once the poll's result is published (its commit): a poll not published is read again.
A repository that fails (gone, an error answer) does not hold back the others: their runs are published and
remembered (PartsFailed), its own are read again by the next poll. A malformed run (not a workflow run) is
skipped, counted and logged, and remembered as read like a completed one, so that it neither fails every poll
nor holds back its repository's other runs. A listing the rate limit cut short keeps no ETag, so its page is
read whole again after the reset.
GitHub has no test report API (reports are artifacts), so runs from here carry no test list.
"""

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from prometheus_client import Counter

from aiops_contracts.github_actions import NotAWorkflowRun, run_payload
from aiops_contracts.pipelines import PipelineRunPayload
from aiops_contracts.pollers import GithubActionsSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import REQUEST_ERRORS, HttpPoller, read_json
from aiops_worker.producers.poller import PartsFailed, PolledSource, PollResult

log = logging.getLogger(__name__)
API_VERSION = "2022-11-28"
T = TypeVar("T")
UNREADABLE_RUNS = Counter("aiops_worker_github_runs_unreadable_total",
                          "GitHub workflow runs that could not be read (malformed): skipped, not read again")


def run_key(run: dict[str, Any]) -> str:
    """How a run (one attempt of it) is remembered as read: `id:attempt`."""
    return f"{run.get('id')}:{run.get('run_attempt') or 1}"


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of a Link header (RFC 8288), as GitHub paginates."""
    for part in (header or "").split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return url.strip().strip("<>")
    return None


class Recent(OrderedDict[str, T]):
    """A dict of at most `size` keys: setting one past it forgets the one set longest ago."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: str, value: T) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class GithubActionsPoller(HttpPoller[GithubActionsSettings]):
    kind = SourceKind.github_actions

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, GithubActionsSettings)
        # What the listings can show: the runs of max_pages pages, the pages themselves, per repository.
        pages = len(self.settings.repositories) * self.settings.max_pages
        self.etags: Recent[str] = Recent(pages)  # listing page URL -> ETag
        self.read: Recent[None] = Recent(2 * pages * self.settings.per_page)  # completed runs (id:attempt) sent
        self.remaining: int | None = None
        self.reset_at = 0.0

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
        return headers

    async def poll(self) -> PollResult:
        result, read, etags, failures = PollResult(), list[str](), dict[str, str](), dict[str, Exception]()
        for repository in self.settings.repositories:
            try:
                runs, repository_read, repository_etags = await self._repository(repository)
            except REQUEST_ERRORS as exc:  # read again by the next poll; the other repositories go on
                failures[repository] = exc
                continue
            result.runs += runs
            read += repository_read
            etags |= repository_etags
        if self.remaining is not None:
            result.lines.append(self.point("github_api", {}, {"rate_remaining": self.remaining},
                                           time.time_ns()))

        async def commit() -> None:
            for key in read:
                self.read[key] = None
            for url, etag in etags.items():
                self.etags[url] = etag
        result.commit = commit
        if failures:
            raise PartsFailed(result, failures, parts=len(self.settings.repositories))
        return result

    async def _repository(self, repository: str) -> tuple[list[PipelineRunPayload], list[str], dict[str, str]]:
        """The repository's new runs, the completed ones among them, malformed or not (id:attempt, read once published)
        and its listing pages' ETags (none when the rate limit ran low: the listing may be cut short)."""
        runs, read, etags = list[PipelineRunPayload](), list[str](), dict[str, str]()
        async for run in self._new_runs(repository, etags):
            completed = run.get("status") == "completed"
            jobs = await self._jobs(repository, run) if completed else []
            if completed and self._rate_low():
                break  # its jobs (or the rest of them) wait for the reset: the run is read again then
            try:
                runs.append(run_payload(run, jobs))
            except NotAWorkflowRun as exc:  # skipped; remembered below once completed, else it would fail every
                # poll, while one in progress is read again (whole by its completion, that is still published)
                UNREADABLE_RUNS.inc()
                log.warning("github workflow run unreadable, skipped", extra={
                    "source": self.source.name, "repository": repository, "run": str(run.get("id")), "error": str(exc)})
            if completed:
                read.append(run_key(run))
        return runs, read, {} if self._rate_low() else etags

    async def _new_runs(self, repository: str, etags: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        url: str | None = f"/repos/{repository}/actions/runs?" + urlencode({"per_page": self.settings.per_page})
        for _ in range(self.settings.max_pages):
            if url is None or self._rate_low():
                return
            page, url = await self._get(url, etags)
            runs = (page or {}).get("workflow_runs") or []
            fresh = [run for run in runs if run_key(run) not in self.read]
            for run in fresh:
                yield run
            if not fresh:  # unchanged (304) or only runs read before: the older pages were read too
                return

    async def _jobs(self, repository: str, run: dict[str, Any]) -> list[dict[str, Any]]:
        attempt = run.get("run_attempt") or 1
        url: str | None = f"/repos/{repository}/actions/runs/{run['id']}/attempts/{attempt}/jobs?per_page=100"
        jobs: list[dict[str, Any]] = []
        while url is not None and not self._rate_low():
            page, url = await self._get(url)
            jobs += (page or {}).get("jobs") or []
        return jobs

    async def _get(self, url: str, etags: dict[str, str] | None = None) -> tuple[dict[str, Any] | None, str | None]:
        """(the page, or None when unchanged since its ETag; the next page's URL). A listing page's ETag goes
        into `etags`, for the next polls; a run's jobs are read once, so theirs would never be sent back."""
        headers = {"If-None-Match": self.etags[url]} if url in self.etags else {}
        async with self.api.request("GET", url, headers=headers) as response:
            self._rate(response.headers)
            if response.status == 304:
                return None, None
            page = await read_json(response, f"GET {url}")
            if etags is not None and response.headers.get("ETag"):
                etags[url] = response.headers["ETag"]
            return page, next_link(response.headers.get("Link"))

    def _rate(self, headers: Mapping[str, str]) -> None:
        try:
            self.remaining = int(headers["X-RateLimit-Remaining"])
            self.reset_at = float(headers.get("X-RateLimit-Reset") or 0)
        except (KeyError, ValueError):
            return

    def _rate_low(self) -> bool:
        low = self.remaining is not None and self.remaining <= self.settings.min_rate_remaining
        return low and time.time() < self.reset_at
