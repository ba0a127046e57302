"""Jenkins poller: the builds of each job (JSON API), their test reports, and the build queue.

- `GET /job/<a>/job/<b>/api/json?tree=builds[...]{0,max_builds}`: the newest builds, with result, times,
  the node (`builtOn`), the time in queue (`TimeInQueueAction`, from the Metrics plugin, when present), the
  git revision (`BuildData.lastBuiltRevision`) and the change sets (commits with their paths);
- each finished build not read before: `.../<number>/testReport/api/json` (a 404: the build has no report),
  its cases as the run's tests;
- `GET /queue/api/json`: the items waiting, as `jenkins_queue` points (items, stuck, blocked).
Finished builds are read once (incremental); a running build is sent as in progress and read again when done.
A build counts as read once the poll's result is published (its commit): a poll not published is read again.
Each job keeps the finished builds its listing still shows (at most `max_builds`): older ones never come back.
A job (or the queue) that fails does not hold back the others: their result is published (PartsFailed), the
failed job's builds are read again by the next poll.
"""

import base64
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiops_contracts.pipelines import CommitIn, PipelineRunPayload, Provider, TestIn, TestOutcome
from aiops_contracts.pollers import JenkinsSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import REQUEST_ERRORS, HttpPoller
from aiops_worker.producers.poller import CheckFailed, PartsFailed, PolledSource, PollResult

BUILD_TREE = ("builds[number,url,result,building,timestamp,duration,builtOn,"
              "actions[_class,queuingDurationMillis,lastBuiltRevision[SHA1]],"
              "changeSets[items[commitId,msg,author[fullName],affectedPaths,timestamp]]]")
TEST_TREE = "suites[cases[className,name,status,duration]]"
RESULTS = {"SUCCESS": "success", "FAILURE": "failure", "UNSTABLE": "failure", "ABORTED": "cancelled",
           "NOT_BUILT": "skipped"}
OUTCOMES = {"PASSED": TestOutcome.passed, "FIXED": TestOutcome.passed, "FAILED": TestOutcome.failed,
            "REGRESSION": TestOutcome.failed, "SKIPPED": TestOutcome.skipped}


def job_path(full_name: str) -> str:
    """`team/app` -> `/job/team/job/app` (folders nest as /job/ segments)."""
    return "".join(f"/job/{quote(part, safe='')}" for part in full_name.strip("/").split("/"))


def _ms(value: Any) -> float | None:
    return float(value) / 1000 if isinstance(value, int | float) and value > 0 else None


def _dt(epoch_s: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch_s, UTC) if epoch_s is not None else None


def build_payload(job: str, base_url: str, build: dict[str, Any], report: dict[str, Any] | None) -> PipelineRunPayload:
    started = _ms(build.get("timestamp"))
    duration = _ms(build.get("duration"))
    actions = [a for a in build.get("actions") or [] if isinstance(a, dict)]
    queued = next((_ms(a["queuingDurationMillis"]) or 0.0 for a in actions if "queuingDurationMillis" in a), None)
    sha = next((a["lastBuiltRevision"].get("SHA1") for a in actions if isinstance(a.get("lastBuiltRevision"), dict)),
               None)
    items = [i for change in build.get("changeSets") or [] for i in change.get("items") or []]
    head = next((i for i in items if i.get("commitId") == sha), items[-1] if items else None)
    commit = None
    if sha or head:
        commit = CommitIn(sha=str(sha or head.get("commitId"))[:64], message=str((head or {}).get("msg") or "")[:10_000],
                          author=((head or {}).get("author") or {}).get("fullName"),
                          committed_at=_dt(_ms((head or {}).get("timestamp"))),
                          files=sorted({p for i in items for p in i.get("affectedPaths") or []})[:500])
    building = bool(build.get("building"))
    return PipelineRunPayload(
        provider=Provider.jenkins, pipeline_key=job, pipeline_name=job, pipeline_url=base_url + job_path(job),
        external_id=str(build["number"]), number=int(build["number"]),
        status="in_progress" if building else "completed",
        conclusion=None if building else RESULTS.get(str(build.get("result")), "failure"),
        runner=str(build.get("builtOn") or "built-in")[:200],
        queued_at=_dt(started - queued) if started is not None and queued is not None else None,
        started_at=_dt(started),
        finished_at=_dt(started + duration) if started is not None and duration is not None and not building else None,
        url=build.get("url"), commit=commit, tests=_tests(report),
    )


def _tests(report: dict[str, Any] | None) -> list[TestIn]:
    tests = []
    for suite in (report or {}).get("suites") or []:
        for case in suite.get("cases") or []:
            outcome = OUTCOMES.get(str(case.get("status")))
            if outcome is not None:
                tests.append(TestIn(name=f"{case.get('className')}.{case.get('name')}"[:500],
                                    file=str(case.get("className") or "")[:500] or None, outcome=outcome,
                                    duration_s=case.get("duration")))
    return tests


class JenkinsPoller(HttpPoller[JenkinsSettings]):
    kind = SourceKind.jenkins

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, JenkinsSettings)
        self.read: dict[str, set[int]] = {}  # job -> its finished builds sent with their test reports

    def headers(self) -> dict[str, str]:
        if not (self.settings.username and self.settings.api_token):
            return {}
        pair = f"{self.settings.username}:{self.settings.api_token.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    async def poll(self) -> PollResult:
        result, read, failures = PollResult(), dict[str, set[int]](), dict[str, Exception]()
        for job in self.settings.jobs:
            try:
                runs, read[job] = await self._job(job)
            except REQUEST_ERRORS as exc:  # read again by the next poll; the other jobs go on
                failures[job] = exc
                continue
            result.runs += runs
        try:
            result.lines += self._queue_points(await self.api.request_json("GET", "/queue/api/json"))
        except REQUEST_ERRORS as exc:
            failures["queue"] = exc

        async def commit() -> None:
            self.read |= read
        result.commit = commit
        if failures:
            raise PartsFailed(result, failures, parts=len(self.settings.jobs) + 1)  # and the queue
        return result

    async def _job(self, job: str) -> tuple[list[PipelineRunPayload], set[int]]:
        """The job's builds not read before, and the finished builds its listing shows (read once published)."""
        tree = f"{BUILD_TREE}{{0,{self.settings.max_builds}}}"
        listing = await self.api.request_json("GET", f"{job_path(job)}/api/json", params={"tree": tree})
        runs, finished, read = list[PipelineRunPayload](), set[int](), self.read.get(job, set())
        for build in reversed(listing.get("builds") or []):
            number, building = int(build["number"]), bool(build.get("building"))
            if number not in read:
                report = None if building else await self._report(job, number)
                runs.append(build_payload(job, self.api.base_url, build, report))
            if not building:
                finished.add(number)
        return runs, finished

    async def _report(self, job: str, number: int) -> dict[str, Any] | None:
        try:
            return await self.api.request_json("GET", f"{job_path(job)}/{number}/testReport/api/json",
                                               params={"tree": TEST_TREE})
        except CheckFailed as exc:
            if " 404 " in exc.message:  # no test report for this build
                return None
            raise

    def _queue_points(self, queue: dict[str, Any]) -> list[str]:
        items = queue.get("items") or []
        fields = {"items": len(items), "stuck": sum(bool(i.get("stuck")) for i in items),
                  "blocked": sum(bool(i.get("blocked")) for i in items),
                  "oldest_wait_s": max(((time.time() * 1000 - i.get("inQueueSince", 0)) / 1000 for i in items),
                                       default=0.0)}
        return [self.point("jenkins_queue", {}, fields, time.time_ns())]
