"""The Jenkins poller against a local server speaking Jenkins' JSON API with recorded answers in its documented
formats (payloads/jenkins_api.json): a folder job's builds (result, node, time in queue, git revision and
change set), a build's testReport (and one without: 404), the queue; finished builds are read once."""

import base64
import json
from pathlib import Path

import pytest
from aiohttp import web

from aiops_contracts.envelope import Envelope
from aiops_contracts.pollers import poller_settings
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import PIPELINES_RUNS
from aiops_worker.producers.health import health_key
from aiops_worker.producers.jenkins import JenkinsPoller, job_path
from aiops_worker.producers.manager import Outcome, ProducerManager
from aiops_worker.producers.poller import CheckFailed, PartsFailed, PolledSource
from conftest import polled

RECORDED = json.loads((Path(__file__).parent / "payloads" / "jenkins_api.json").read_text())
AUTH = "Basic " + base64.b64encode(b"ci-reader:11aa22bb33cc").decode()


class JenkinsApi:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.hidden: set[int] = set()  # builds the job's listing no longer shows (only its newest are)
        self.queue_fails = False
        self.app = web.Application()
        self.app.router.add_get("/job/team/job/app/api/json", self.job)
        self.app.router.add_get("/job/team/job/app/{number}/testReport/api/json", self.report)
        self.app.router.add_get("/queue/api/json", self.queue)

    def _check(self, request: web.Request) -> None:
        self.requests.append(request.path)
        if request.headers.get("Authorization") != AUTH:
            raise web.HTTPUnauthorized()

    async def job(self, request: web.Request) -> web.Response:
        self._check(request)
        assert request.query["tree"].startswith("builds[number,url,result,building") and "{0,20}" in request.query["tree"]
        return web.json_response({**RECORDED["job"], "builds": [
            build for build in RECORDED["job"]["builds"] if build["number"] not in self.hidden]})

    async def report(self, request: web.Request) -> web.Response:
        self._check(request)
        if request.match_info["number"] != "42":
            raise web.HTTPNotFound()
        return web.json_response(RECORDED["testReport"])

    async def queue(self, request: web.Request) -> web.Response:
        self._check(request)
        if self.queue_fails:
            raise web.HTTPServiceUnavailable()
        return web.json_response(RECORDED["queue"])


@pytest.fixture
async def jenkins(serve):
    return await serve(JenkinsApi())


def poller(url: str, token: str = "11aa22bb33cc") -> JenkinsPoller:
    settings = poller_settings("jenkins", {"username": "ci-reader", "jobs": ["team/app"]}, {"api_token": token})
    return JenkinsPoller(PolledSource("j-id", "jenkins", SourceKind.jenkins, url, 900.0, {}, settings))


def test_job_path_nests_folders() -> None:
    assert job_path("team/app") == "/job/team/job/app"
    assert job_path("a b/c") == "/job/a%20b/job/c"


async def test_reads_builds_tests_and_queue_once(jenkins) -> None:
    poll = poller(jenkins.url)
    result = await polled(poll)
    runs = {r.number: r for r in result.runs}
    assert sorted(runs) == [41, 42, 43]
    unstable = runs[42]
    assert (unstable.conclusion, unstable.runner, unstable.status) == ("failure", "linux-agent-3", "completed")
    assert (unstable.started_at - unstable.queued_at).total_seconds() == 42.0
    assert (unstable.finished_at - unstable.started_at).total_seconds() == 754.0
    assert (unstable.commit.sha[:7], unstable.commit.files, unstable.commit.message) == (
        "9f2c1e7", ["requirements.txt"], "Bump requests to 2.32")
    assert [(t.name, t.outcome.value) for t in unstable.tests] == [
        ("tests.test_api.TestOrders.test_create", "passed"), ("tests.test_api.TestOrders.test_refund", "failed"),
        ("tests.test_api.TestOrders.test_export", "skipped"), ("tests.test_api.TestSearch.test_full_scan", "passed")]
    assert (runs[41].conclusion, runs[41].runner, runs[41].tests) == ("success", "built-in", [])  # 404: no report
    assert (runs[43].status, runs[43].finished_at) == ("in_progress", None)
    (queue,) = result.lines
    assert queue.startswith("jenkins_queue,source=jenkins ") and "items=2i" in queue and "stuck=1i" in queue

    jenkins.requests.clear()
    again = await poll.poll()  # finished builds are not read again; the running one is, without a report
    assert [r.number for r in again.runs] == [43]
    assert jenkins.requests == ["/job/team/job/app/api/json", "/queue/api/json"]
    await poll.aclose()


async def test_wrong_token_is_an_auth_failure(jenkins) -> None:
    poll = poller(jenkins.url, token="wrong")
    with pytest.raises(CheckFailed) as refused:
        await poll.poll()
    assert refused.value.stage == "auth"
    await poll.aclose()


async def test_a_failing_queue_does_not_hold_back_the_builds_read_again_until_committed(jenkins) -> None:
    jenkins.queue_fails = True
    poll = poller(jenkins.url)
    with pytest.raises(PartsFailed) as failed:
        await poll.poll()
    assert sorted(r.number for r in failed.value.result.runs) == [41, 42, 43] and failed.value.result.lines == []
    assert failed.value.message.startswith("queue: GET /queue/api/json: 503")
    jenkins.queue_fails = False
    again = await poll.poll()  # the first was not published: its finished builds are read again
    assert sorted(r.number for r in again.runs) == [41, 42, 43]
    await again.commit()
    assert [r.number for r in (await polled(poll)).runs] == [43]
    jenkins.hidden = {41}  # newer builds pushed it out of the listing: it is forgotten
    await polled(poll)
    assert poll.read == {"team/app": {42}}
    await poll.aclose()


async def test_the_manager_publishes_the_builds_of_a_poll_whose_queue_failed(jenkins, worker_ctx) -> None:
    jenkins.queue_fails = True
    poll, pollers, redis = poller(jenkins.url), ProducerManager(worker_ctx), worker_ctx.redis
    assert await pollers.poll_once(poll) == Outcome.partial  # its builds published and committed
    assert (await redis.hget(health_key(worker_ctx.settings, "j-id"), "last_error")).startswith(b"protocol: queue: ")
    jenkins.queue_fails = False
    assert await pollers.poll_once(poll) == Outcome.ok
    stream = await redis.xrange(worker_ctx.bus.key(PIPELINES_RUNS))
    assert [Envelope.from_entry(fields).payload["number"] for _, fields in stream] == [41, 42, 43, 43]
    await poll.aclose()
