"""The GitHub Actions poller against a local server speaking the REST API with recorded answers in GitHub's
documented formats (payloads/github_actions_api.json): Link pagination, jobs and steps of completed runs,
ETag / If-None-Match (304), rate-limit headers, and incremental polls that never read a run twice."""

import copy
import json
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from aiops_contracts.pollers import poller_settings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.github_actions import GithubActionsPoller, Recent, next_link
from aiops_worker.producers.poller import PartsFailed, PolledSource

RECORDED = json.loads((Path(__file__).parent / "payloads" / "github_actions_api.json").read_text())
TOKEN = "ghp_testtoken"


class GithubApi:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.remaining = 4999
        self.malformed: set[int] = set()  # runs answered without their repository
        self.app = web.Application()
        self.app.router.add_get("/repos/octo-org/hello-world/actions/runs", self.runs)
        self.app.router.add_get("/repos/octo-org/hello-world/actions/runs/{run}/attempts/{attempt}/jobs", self.jobs)

    def _headers(self, etag: str) -> dict[str, str]:
        self.remaining -= 1
        return {"ETag": etag, "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": "4102444800", "X-GitHub-Api-Version-Selected": "2022-11-28"}

    async def runs(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        page = request.query.get("page", "1")
        self.requests.append(f"runs page {page} {request.headers.get('If-None-Match', '-')}")
        etag = f'W/"runs-{page}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = self._headers(etag)
        if page == "1":
            base = f"{request.url.scheme}://{request.host}{request.path}"
            headers["Link"] = f'<{base}?per_page=2&page=2>; rel="next", <{base}?per_page=2&page=2>; rel="last"'
        body = copy.deepcopy(RECORDED["runs"][f"page{page}"])
        for run in body["workflow_runs"]:
            if run["id"] in self.malformed:
                del run["repository"]
        return web.json_response(body, headers=headers)

    async def jobs(self, request: web.Request) -> web.Response:
        self.requests.append(f"jobs {request.match_info['run']}")
        return web.json_response(RECORDED["jobs"][request.match_info["run"]], headers=self._headers('"jobs"'))


@pytest.fixture
async def github(serve):
    return await serve(GithubApi())


def poller(url: str, repositories: tuple[str, ...] = ("octo-org/hello-world",)) -> GithubActionsPoller:
    settings = poller_settings("github_actions", {"repositories": list(repositories), "per_page": 2},
                               {"token": TOKEN})
    return GithubActionsPoller(PolledSource("gh-id", "octo-ci", SourceKind.github_actions, url, 900.0, {}, settings))


def test_next_link_reads_rel_next() -> None:
    header = '<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last"'
    assert next_link(header) == "https://api.github.com/x?page=2"
    assert next_link('<https://api.github.com/x?page=1>; rel="prev"') is None


async def test_polls_runs_with_jobs_incrementally_with_etags(github) -> None:
    gh = poller(github.url)
    first = await gh.poll()
    runs = {r.number: r for r in first.runs}
    assert sorted(runs) == [1, 2, 3]
    assert (runs[2].conclusion, runs[2].status, [j.name for j in runs[2].jobs]) == ("failure", "completed",
                                                                                  ["build-1", "build-2"])
    assert [s.name for s in runs[2].jobs[1].steps] == ["Set up job", "Run tests"]
    assert runs[2].jobs[0].runner == "GitHub Actions 2" and runs[2].commit.sha == f"{2:040x}"
    assert runs[2].pipeline_key == "octo-org/hello-world/.github/workflows/ci.yml"
    assert (runs[3].status, runs[3].jobs, runs[3].finished_at) == ("in_progress", [], None)  # jobs once completed
    assert github.requests == ["runs page 1 -", "jobs 1002", "runs page 2 -", "jobs 1001"]
    assert any(line.startswith("github_api,source=octo-ci rate_remaining=4995") for line in first.lines)
    assert all("/actions/runs?" in url for url in gh.etags)  # listing pages only: a run's jobs are read once
    assert (gh.etags.size, gh.read.size) == (5, 2 * 5 * 2)  # what 5 pages of 2 runs can show

    await first.commit()  # published: its runs are read and its ETags sent from now on
    github.requests.clear()
    second = await gh.poll()  # nothing changed: the first page answers 304 and nothing is read again
    assert second.runs == [] and github.requests == ['runs page 1 W/"runs-1"']
    await gh.aclose()


def test_recent_forgets_the_key_set_longest_ago() -> None:
    recent: Recent[None] = Recent(2)
    recent["a"], recent["b"], recent["a"], recent["c"] = None, None, None, None
    assert list(recent) == ["a", "c"]


async def test_stops_when_the_rate_limit_runs_low(github) -> None:
    github.remaining = 21  # the first answer leaves 20, the floor
    gh = poller(github.url)
    result = await gh.poll()
    assert [r.number for r in result.runs] == [3]  # in progress: sent without jobs, then the poll stops
    assert github.requests == ["runs page 1 -"]
    await gh.aclose()


async def test_a_poll_not_committed_is_read_again(github) -> None:
    gh = poller(github.url)
    await gh.poll()
    github.requests.clear()
    again = await gh.poll()  # the first was not published: no ETag sent, its runs read again
    assert sorted(r.number for r in again.runs) == [1, 2, 3]
    assert github.requests == ["runs page 1 -", "jobs 1002", "runs page 2 -", "jobs 1001"]
    await again.commit()
    assert (await gh.poll()).runs == []
    await gh.aclose()


async def test_a_failing_repository_does_not_hold_back_the_others(github) -> None:
    gh = poller(github.url, ("octo-org/hello-world", "octo-org/gone"))
    with pytest.raises(PartsFailed) as failed:
        await gh.poll()
    assert failed.value.stage == "protocol" and failed.value.message.startswith("octo-org/gone: GET ")
    assert sorted(r.number for r in failed.value.result.runs) == [1, 2, 3]  # published, then committed
    await failed.value.result.commit()
    github.requests.clear()
    with pytest.raises(PartsFailed) as again:
        await gh.poll()
    assert again.value.result.runs == [] and github.requests == ['runs page 1 W/"runs-1"']
    assert not again.value.whole  # a part was read: the source is not backed off (producers/manager.py)
    await gh.aclose()
    gone = poller(github.url, ("octo-org/gone",))
    with pytest.raises(PartsFailed) as every:
        await gone.poll()
    assert every.value.whole  # no part read: the source itself fails
    await gone.aclose()


async def test_a_malformed_run_is_skipped_once_and_the_others_go_on(github) -> None:
    github.malformed = {1002}
    skipped = REGISTRY.get_sample_value("aiops_worker_github_runs_unreadable_total") or 0.0
    gh = poller(github.url)
    first = await gh.poll()  # no PartsFailed: the repository's other runs are read
    assert sorted(r.number for r in first.runs) == [1, 3]
    assert REGISTRY.get_sample_value("aiops_worker_github_runs_unreadable_total") == skipped + 1
    await first.commit()
    gh.etags.clear()  # the listing read whole again: the malformed run is not tried again
    github.requests.clear()
    assert [r.number for r in (await gh.poll()).runs] == [3]  # in progress: read until completed
    assert github.requests == ["runs page 1 -", "runs page 2 -"]
    await gh.aclose()


async def test_a_malformed_run_in_progress_is_read_again_until_whole(github) -> None:
    """Oddly shaped mid-run, a run is skipped (and counted) each poll but not remembered as read: once whole it is
    published, so its completion is not lost."""
    github.malformed = {1003}
    skipped = REGISTRY.get_sample_value("aiops_worker_github_runs_unreadable_total") or 0.0
    gh = poller(github.url)
    first = await gh.poll()
    assert sorted(r.number for r in first.runs) == [1, 2]
    await first.commit()
    gh.etags.clear()  # the listing read whole again
    second = await gh.poll()
    assert second.runs == [] and REGISTRY.get_sample_value("aiops_worker_github_runs_unreadable_total") == skipped + 2
    await second.commit()
    github.malformed.clear()
    gh.etags.clear()
    assert [r.number for r in (await gh.poll()).runs] == [3]
    await gh.aclose()
